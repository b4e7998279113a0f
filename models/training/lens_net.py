"""Learned lens blur (paper §3.2.1-3.2.2, Eq. 2) and guided upsampling (§3.2.3, Eq. 3).

LensNet
  * feature extraction: applied to each colour channel alone (shared weights), four convolutions with
    ReLU whose intermediate maps are concatenated into c = 32 features per channel.  The 2nd-4th
    convolutions run on ×2, ×4, ×8 average-pooled maps and are bilinearly brought back, so the
    receptive field (radius 2+4+8+16 = 30 px with 5×5 kernels) covers r_max cheaply.
  * kernel prediction: a small encoder-decoder on (signed depth (D-d_f)·α, its magnitude, image)
    predicting per-pixel 1×1 kernels K of c = 32 weights; L_i(x,y) = Σ_j K(x,y,j)·F_i(x,y,j).

UpsampleNet: M_A and M_L from low-resolution features (image, blur L, signed depth; bilinearly
upsampled ×2) and high-resolution features of the guide A; H = M_A⊙A + M_L⊙up(L).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

C = 32


def up_to(x, ref):
    return F.interpolate(x, size=ref.shape[2:], mode="bilinear", align_corners=False)


class FeatureExtraction(nn.Module):
    """Per colour channel: 4 convs (ReLU), maps of each concatenated (8 each -> c = 32)."""

    def __init__(self, k=5, width=8):
        super().__init__()
        self.c1 = nn.Conv2d(1, width, k, 1, k // 2)
        self.c2 = nn.Conv2d(width, width, k, 1, k // 2)
        self.c3 = nn.Conv2d(width, width, k, 1, k // 2)
        self.c4 = nn.Conv2d(width, width, k, 1, k // 2)

    def forward(self, x):  # x: [N*3, 1, h, w]
        f1 = F.relu(self.c1(x))
        f2 = F.relu(self.c2(F.avg_pool2d(f1, 2, ceil_mode=True)))
        f3 = F.relu(self.c3(F.avg_pool2d(f2, 2, ceil_mode=True)))
        f4 = F.relu(self.c4(F.avg_pool2d(f3, 2, ceil_mode=True)))
        return torch.cat([f1, up_to(f2, x), up_to(f3, x), up_to(f4, x)], 1)


def cr(cin, cout, k=3, s=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2), nn.ReLU(inplace=True))


class KernelNet(nn.Module):
    """Encoder-decoder (to 1/8) over signed depth and image predicting c kernel weights per pixel."""

    def __init__(self, w=16):
        super().__init__()
        self.e0 = nn.Sequential(cr(5, w), cr(w, w))
        self.e1 = nn.Sequential(cr(w, w * 2, s=2), cr(w * 2, w * 2))
        self.e2 = nn.Sequential(cr(w * 2, w * 2, s=2), cr(w * 2, w * 2))
        self.e3 = nn.Sequential(cr(w * 2, w * 2, s=2), cr(w * 2, w * 2, k=5))
        self.d2 = cr(w * 4, w * 2)
        self.d1 = cr(w * 4, w * 2)
        self.d0 = cr(w * 3, w)
        self.out = nn.Conv2d(w, C, 3, 1, 1)

    def forward(self, image, sd):
        x = torch.cat([sd, sd.abs(), image], 1)
        s0 = self.e0(x)
        s1 = self.e1(s0)
        s2 = self.e2(s1)
        s3 = self.e3(s2)
        d = self.d2(torch.cat([up_to(s3, s2), s2], 1))
        d = self.d1(torch.cat([up_to(d, s1), s1], 1))
        d = self.d0(torch.cat([up_to(d, s0), s0], 1))
        return self.out(d)


class LensNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = FeatureExtraction()
        self.kernels = KernelNet()

    def forward(self, image, signed_depth):
        n, _, h, w = image.shape
        f = self.features(image.reshape(n * 3, 1, h, w)).reshape(n, 3, C, h, w)
        k = self.kernels(image, signed_depth)  # [n, C, h, w]
        return (f * k.unsqueeze(1)).sum(2)  # Eq. 2


class UpsampleNet(nn.Module):
    """Light at the high resolution (it runs at every level up to the output size): low features
    (image, blur, signed depth) at the low level, one conv of guide features at the high level."""

    def __init__(self, w=16, wh=8):
        super().__init__()
        self.low = nn.Sequential(cr(7, w), cr(w, wh))
        self.high = cr(3, wh)
        self.mix = nn.Sequential(cr(2 * wh, wh), nn.Conv2d(wh, 1, 1))

    def forward(self, guide, low_image, low_blur, low_signed_depth):
        lf = self.low(torch.cat([low_image, low_blur, low_signed_depth], 1))
        up_blur = up_to(low_blur, guide)
        m_a = torch.sigmoid(self.mix(torch.cat([up_to(lf, guide), self.high(guide)], 1)))
        return m_a * guide + (1 - m_a) * up_blur  # Eq. 3 with M_L = 1 - M_A


def normalised_loss(pred, target, alpha=1.5, eps=1e-8):
    """Eq. 5: Σ|e|^(α+1) / Σ|e|^α, per sample, averaged over the batch."""
    e = (pred - target).abs().flatten(1) + eps
    return ((e ** (alpha + 1)).sum(1) / (e ** alpha).sum(1)).mean()
