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


# Radii (working pixels) of the c = 32 feature blurs: 12 at full resolution (0-4 px), 10 on the
# ×2 average-pooled picture (4.4-8 px) and 10 on the ×4 one (8.8-16 px = r_max), so every
# convolution is 9×9 however large the blur.
RADII = ([0.0, 0.4, 0.8, 1.1, 1.4, 1.7, 2.0, 2.4, 2.8, 3.2, 3.6, 4.0],
         [4.4 + 0.4 * i for i in range(10)],
         [8.8 + 0.8 * i for i in range(10)])
ALL_RADII = [r for level in RADII for r in level]
K = 9
PAD = 20  # > r_max + the ×4 level's pooling footprint
MIN_SIDE = PAD + 4  # reflect padding needs frames over PAD px; exported as deeplens.min_side


def disc(r, k=K):
    """Anti-aliased disc of radius r (pixels), normalised to sum 1; r = 0 is the identity."""
    c = k // 2
    yy, xx = torch.meshgrid(torch.arange(k) - c, torch.arange(k) - c, indexing="ij")
    d = (xx.float() ** 2 + yy.float() ** 2).sqrt()
    w = (r + 0.5 - d).clamp(0, 1) if r > 0 else (d == 0).float()
    return w / w.sum()


def srgb_to_linear(x):
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x):
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def highlight(image):
    """Clipped-highlight indicator from the gamma-encoded picture (as the physical renderer's boost):
    smoothstep of the smallest channel over [0.9, 1]."""
    t = ((image.min(1, keepdim=True)[0] - 0.9) / 0.1).clamp(0, 1)
    return t * t * (3 - 2 * t)


class FeatureExtraction(nn.Module):
    """Per colour channel (shared weights): 9×9 convolutions of (linear value, linear value × highlight
    indicator) at three pyramid levels whose maps are concatenated into c = 32 features.  They are
    initialised as anti-aliased discs of the radii in RADII (with the highlight input weighted like
    the physical renderer's default boost) and trained from there."""

    def __init__(self):
        super().__init__()
        self.levels = nn.ModuleList()
        for i, radii in enumerate(RADII):
            conv = nn.Conv2d(2, len(radii), K, 1, K // 2, bias=False)
            with torch.no_grad():
                for j, r in enumerate(radii):
                    conv.weight[j, 0] = disc(r / 2 ** i)
                    conv.weight[j, 1] = disc(r / 2 ** i)
            self.levels.append(conv)

    def forward(self, x):  # x: [N*3, 2, h, w] linear light
        # Reflect-padded by the largest reach so the frame border needs no special case (as the
        # physical renderer), then cropped back.
        x = F.pad(x, (PAD, PAD, PAD, PAD), mode="reflect")
        out, y = [], x
        for i, conv in enumerate(self.levels):
            if i > 0:
                y = F.avg_pool2d(y, 2, ceil_mode=True)
            f = conv(y)
            out.append(f if i == 0 else up_to(f, x))
        return torch.cat(out, 1)[:, :, PAD:-PAD, PAD:-PAD]


def cr(cin, cout, k=3, s=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2), nn.ReLU(inplace=True))


class KernelNet(nn.Module):
    """Encoder-decoder (to 1/8) over signed depth, image and highlight indicator predicting a
    correction to c kernel weights per pixel (zero at initialisation)."""

    def __init__(self, w=16):
        super().__init__()
        self.e0 = nn.Sequential(cr(6, w), cr(w, w))
        self.e1 = nn.Sequential(cr(w, w * 2, s=2), cr(w * 2, w * 2))
        self.e2 = nn.Sequential(cr(w * 2, w * 2, s=2), cr(w * 2, w * 2))
        self.e3 = nn.Sequential(cr(w * 2, w * 2, s=2), cr(w * 2, w * 2, k=5))
        self.d2 = cr(w * 4, w * 2)
        self.d1 = cr(w * 4, w * 2)
        self.d0 = cr(w * 3, w)
        self.out = nn.Conv2d(w, C, 3, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x):
        s0 = self.e0(x)
        s1 = self.e1(s0)
        s2 = self.e2(s1)
        s3 = self.e3(s2)
        d = self.d2(torch.cat([up_to(s3, s2), s2], 1))
        d = self.d1(torch.cat([up_to(d, s1), s1], 1))
        d = self.d0(torch.cat([up_to(d, s0), s0], 1))
        return self.out(d)


def radius_prior(radius):
    """Piecewise-linear ("hat") weights over ALL_RADII interpolating the wanted radius: the kernel
    a plain gather renderer would use, which the kernel network corrects."""
    r = torch.tensor(ALL_RADII).view(1, -1, 1, 1)
    lo = torch.tensor([-1e6] + ALL_RADII[:-1]).view(1, -1, 1, 1)
    hi = torch.tensor(ALL_RADII[1:] + [1e6]).view(1, -1, 1, 1)
    up = (radius - lo) / (r - lo)
    down = (hi - radius) / (hi - r)
    return torch.minimum(up, down).clamp(0, 1)


class LensNet(nn.Module):
    """L_i = Σ_j K(x,y,j)·F_i(x,y,j) (Eq. 2) in linear light; K = hat prior of the radius
    r_max·|signed depth| + the kernel network's correction."""

    def __init__(self, r_max=16.0):
        super().__init__()
        self.r_max = r_max
        self.features = FeatureExtraction()
        self.kernels = KernelNet()

    def forward(self, image, signed_depth):
        n, _, h, w = image.shape
        lin = srgb_to_linear(image)
        hl = highlight(image)
        x = torch.stack([lin, lin * hl], 2).reshape(n * 3, 2, h, w)
        f = self.features(x).reshape(n, 3, C, h, w)
        radius = (signed_depth.abs() * self.r_max).clamp(0, self.r_max)
        corr = self.kernels(torch.cat([signed_depth, signed_depth.abs(), image, hl], 1))
        # The correction sums to zero over j, so the kernel keeps the prior's unit weight (no
        # brightness drift); it only moves weight between radii.
        k = radius_prior(radius) + corr - corr.mean(1, keepdim=True)
        return linear_to_srgb((f * k.unsqueeze(1)).sum(2))  # Eq. 2


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


def normalised_loss(pred, target, alpha=1.5, eps=1e-8, hold_weights=True):
    """Eq. 4/5: Σ w·|e| / Σ w with the loss weight w = |e|^α, per sample, averaged over the batch.

    Its value is Eq. 5's Σ|e|^(α+1) / Σ|e|^α.  The weight is a weight (Eq. 4), so it is held
    constant in the gradient: differentiating through it too rewards *raising* the many small
    errors (the denominator grows faster than the numerator), which flattened the error
    everywhere and cost 2-4 dB of PSNR in our runs while the loss still fell."""
    e = (pred - target).abs().flatten(1) + eps
    w = (e.detach() if hold_weights else e) ** alpha
    return ((w * e).sum(1) / w.sum(1)).mean()
