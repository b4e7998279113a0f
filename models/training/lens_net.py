"""Learned lens blur (paper §3.2.1-3.2.2, Eq. 2) and guided upsampling (§3.2.3, Eq. 3).

LensNet (in linear light)
  * feature extraction, per colour channel with shared weights: depth slices of the signed blur
    radius, each extended under nearer pixels with the background filled in and blurred with its
    own disc (trainable kernels, started as exact discs); the slices' colour maps and sharp maps
    are the c = 32 features, the slices' blurred coverages go to the kernel prediction.
  * kernel prediction: a small encoder-decoder on (signed depth (D-d_f)·α, its magnitude, image,
    highlight indicator, coverages) correcting the weights of back-to-front "over" compositing of
    the slices, per pixel: 1×1 kernels K of c = 32 weights; L_i(x,y) = Σ_j K(x,y,j)·F_i(x,y,j).

UpsampleNet: M_A and M_L from low-resolution features (image, blur L, signed depth; bilinearly
upsampled ×2) and high-resolution features of the guide A; H = M_A⊙A + M_L⊙up(L).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

C = 32  # features per colour channel of the s15 layouts (features_of gives any variant's)


def up_to(x, ref):
    return F.interpolate(x, size=ref.shape[2:], mode="bilinear", align_corners=False)


R_MAX = 24.0  # px at the lens working resolution (deeplens.r_max)


def _slices(side):
    return [-r for r in reversed(side)] + [0.0] + side


# Depth slices (signed blur radius s = r_max·signed_depth, px; far → near).  The first two
# layouts keep c = 32 features per colour channel (s23 below has 48, see features_of):
#   s15: 15 slices, each with its own colour and highlight features (2·15), + the sharp c and c·h;
#   s31: 31 slices of the highlight-boosted colour (twice as fine in radius), + the sharp c·h.
S15 = dict(slices=_slices([1.0, 2.2, 4.0, 7.0, 11.0, 16.5, 24.0]), split_highlight=True)
VARIANTS = {
    "s15": S15,
    "s31": dict(slices=_slices([0.5, 1.0, 1.5, 2.1, 2.8, 3.6, 4.5, 5.6, 7.0, 8.6, 10.5, 13.0, 16.0, 19.5, 24.0]),
                split_highlight=False),
    # s15 with finer pyramid levels for the wide slices (issue 18's flat-region question): ±11 px
    # at ×2 instead of ×4, ±24 px at ×4 instead of ×8.
    "s15f": dict(S15, levels=(4, 12, 24)),
    # s15 with the highlight indicator keyed over [0.95, 1] (the physical renderer's key since
    # issue 18's selection renders: bright surfaces are not lights). Shipped since stop 33.
    "s15k": dict(S15, hl_key=0.95),
    # s15 with slices between its own up to 11 px (issue 18: a radius between two slices is a mix
    # of their two discs, not a disc; on textures that costs most at 1-8 px): 23 slices, c = 48.
    "s23": dict(slices=_slices([1.0, 1.6, 2.2, 3.1, 4.0, 5.5, 7.0, 9.0, 11.0, 16.5, 24.0]), split_highlight=True),
    # s23 with s15k's highlight key (stop 34: the s23 leg grown from the shipped s15k weights).
    "s23k": dict(slices=_slices([1.0, 1.6, 2.2, 3.1, 4.0, 5.5, 7.0, 9.0, 11.0, 16.5, 24.0]), split_highlight=True,
                 hl_key=0.95),
}


def features_of(variant):
    """c, the features per colour channel of a layout: two maps per slice and the two sharp maps
    when the highlight part is split, else one per slice and the sharp c·h."""
    v = VARIANTS[variant]
    n = len(v["slices"])
    return 2 * n + 2 if v["split_highlight"] else n + 1


LEVELS = (4, 8, 20)  # the largest radius blurred at ×1, ×2, ×4; wider at ×8 (a variant's "levels")


# Each slice is blurred at the pyramid level (×2^level average-pooled) where its disc fits a small
# kernel, the smallest square that holds the disc there.
def level_of(r, levels=LEVELS):
    return 0 if r <= levels[0] else 1 if r <= levels[1] else 2 if r <= levels[2] else 3


def kernel_size(r):
    """Side of the smallest square holding a disc of radius r (pixel shares, see `disc`)."""
    return 2 * (math.ceil(r + 0.5) - 1) + 1 if r > 0 else 1


PAD = 32  # > r_max + the ×8 level's pooling footprint
MIN_SIDE = PAD + 4  # reflect padding needs frames over PAD px; exported as deeplens.min_side
# A pixel whose radius lies within PLATEAU/2 of the gap from a slice's radius belongs to that slice
# alone; between, it is shared linearly with the neighbour (so a radius between two slices is a
# mix of their blurs, and a depth ramp has no steps).
PLATEAU = 0.5
BOOST = 1.0  # the physical renderer's default highlight boost, the prior's weight of the highlight features


def disc(r, k, ss=16):
    """Disc of radius r (pixels): each tap is the share of its pixel square the disc covers
    (supersampled ss×ss), normalised to sum 1; r = 0 is the identity."""
    c = k // 2
    if r <= 0:
        w = torch.zeros(k, k)
        w[c, c] = 1
        return w
    o = (torch.arange(ss) + 0.5) / ss - 0.5
    p = (torch.arange(k) - c).float()
    yy = (p.view(k, 1, 1, 1) + o.view(1, 1, ss, 1)).expand(k, k, ss, ss)
    xx = (p.view(1, k, 1, 1) + o.view(1, 1, 1, ss)).expand(k, k, ss, ss)
    w = ((xx ** 2 + yy ** 2) <= r * r).float().mean((2, 3))
    return w / w.sum()


def srgb_to_linear(x):
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x):
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def highlight(image, key=0.9):
    """Clipped-highlight indicator from the gamma-encoded picture (as the physical renderer's boost):
    smoothstep of the smallest channel over [key, 1]."""
    t = ((image.min(1, keepdim=True)[0] - key) / (1 - key)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def hat(x, centres, plateau=0.0):
    """Piecewise-linear ("hat") weights of x over the sorted centres, open at both ends; they sum to 1.
    With a plateau p, x within p/2 of the gap from a centre belongs to it alone."""
    c = torch.tensor(centres, device=x.device).view(1, -1, 1, 1)
    lo = torch.tensor([-1e6] + centres[:-1], device=x.device).view(1, -1, 1, 1)
    hi = torch.tensor(centres[1:] + [1e6], device=x.device).view(1, -1, 1, 1)
    q = 1.0 - plateau
    return torch.minimum((x - lo) / (c - lo) / q + 0.5 * (1 - 1 / q),
                         (hi - x) / (hi - c) / q + 0.5 * (1 - 1 / q)).clamp(0, 1)


def fill_behind(m, colour):
    """Colour of what lies at or behind each slice, filled in everywhere (pull-push, at half
    resolution): for slice k the pixels of slices ≤ k, averaged over the 6×6 neighbourhood where
    there are any, else over 8×8 blocks, else 32×32, else 128×128.  m [N,S,H,W] slice weights
    (far → near), colour [N,C,H,W] → [N,S,C,H,W]."""
    n, s, h, w = m.shape
    behind = torch.cumsum(m, 1).clamp(0, 1)  # weight of slices ≤ k
    q = (behind.unsqueeze(2) * colour.unsqueeze(1)).flatten(1, 2)
    p2 = F.avg_pool2d(torch.cat([q, behind], 1), 2, ceil_mode=True)
    p8 = F.avg_pool2d(p2, 4, ceil_mode=True)
    p32 = F.avg_pool2d(p8, 4, ceil_mode=True)
    p128 = F.avg_pool2d(p32, 4, ceil_mode=True)
    acc = F.avg_pool2d(p2, 3, 1, 1, count_include_pad=False) + \
        0.02 * up_to(p8 + 0.02 * up_to(p32 + 0.02 * up_to(p128, p32), p8), p2)
    c = colour.shape[1]
    fill = acc[:, :s * c] / (acc[:, s * c:].repeat_interleave(c, 1) + 1e-6)
    return up_to(fill, m).view(n, s, c, h, w)


class FeatureExtraction(nn.Module):
    """Depth slices, each extended under the nearer pixels and blurred.  Slice k holds its own
    pixels (weight m_k of their signed radius, see PLATEAU) and, under every nearer pixel, what lies
    behind (the colour of slices ≤ k filled in from around), so that what shows through a nearer
    slice's soft edge is background, not a hole, and a blurred slice behind a sharp subject does not
    take in the subject's colour (no halo).  Per slice, the premultiplied linear colour (and, split,
    the premultiplied highlight part c·h) and the coverage are blurred with the disc of the slice's
    radius.  These colour maps plus sharp ones are the c = 32 features per colour channel (shared
    weights across channels, see VARIANTS); the blurred coverages A_k go to the kernel prediction.
    The blur kernels start as exact discs and train (at a small learning rate) from there."""

    def __init__(self, slices, split_highlight, levels=LEVELS):
        super().__init__()
        self.slices, self.split = slices, split_highlight
        self.maps = 7 if split_highlight else 4  # colour (, highlight), coverage
        # Slices grouped by (pyramid level, kernel size): one grouped convolution per group.
        group = lambda r: (level_of(abs(r), levels), kernel_size(abs(r) / 2 ** level_of(abs(r), levels)))
        self.groups = sorted({group(r) for r in slices})
        self.members = [[i for i, r in enumerate(slices) if group(r) == g] for g in self.groups]
        self.kernels = nn.ParameterList(
            [nn.Parameter(torch.stack([disc(abs(slices[i]) / 2 ** lv, k)[None] for i in idx]))
             for (lv, k), idx in zip(self.groups, self.members)])

    def forward(self, lin, hl, s):
        """lin [N,3,h,w] linear colour, hl [N,1,h,w], s [N,1,h,w] signed radius (px)
        → features [N,3,32,h,w] and blurred coverages [N,S,h,w]."""
        n, _, h, w = lin.shape
        x = F.pad(torch.cat([lin, lin * hl, s], 1), (PAD, PAD, PAD, PAD), mode="reflect")
        m = hat(x[:, 6:7], self.slices, PLATEAU)  # [N,S,H,W], far → near
        colour = x[:, :6] if self.split else x[:, :3] + BOOST * x[:, 3:6]
        # Under the pixels of nearer slices, slice k holds the filled-in colour of what lies behind.
        at_or_nearer = torch.flip(torch.cumsum(torch.flip(m, [1]), 1), [1])
        nearer = torch.cat([at_or_nearer[:, 1:], torch.zeros_like(m[:, :1])], 1).clamp(0, 1)
        fill = fill_behind(m, colour[:, :3])
        if self.split:  # hidden highlights are not filled in
            fill = torch.cat([fill, torch.zeros_like(fill)], 2)
        layers = torch.cat([m.unsqueeze(2) * colour.unsqueeze(1) + nearer.unsqueeze(2) * fill,
                            (m + nearer).clamp(0, 1).unsqueeze(2)], 2)  # [N,S,maps,H,W]
        blurred = [None] * len(self.slices)
        c = self.maps
        for (lv, k), idx, ker in zip(self.groups, self.members, self.kernels):
            t = layers[:, idx].flatten(1, 2)  # [N,S_g·maps,H,W]
            if lv > 0:
                t = F.avg_pool2d(t, 2 ** lv, ceil_mode=True)
            if k > 1:
                out = F.conv2d(t, ker.repeat_interleave(c, 0), padding=k // 2, groups=t.shape[1])
            else:  # 1×1 discs: a per-slice scale
                out = t * ker.view(1, -1, 1, 1).repeat_interleave(c, 1)
            if lv > 0:
                out = up_to(out, x)
            out = out[:, :, PAD:PAD + h, PAD:PAD + w].reshape(n, len(idx), c, h, w)
            for j, i in enumerate(idx):
                blurred[i] = out[:, j]
        b = torch.stack(blurred, 1)  # [N,S,maps,h,w]
        sharp = x[:, :6, PAD:PAD + h, PAD:PAD + w]
        if self.split:
            feats = [b[:, :, 0:3].transpose(1, 2), b[:, :, 3:6].transpose(1, 2),
                     sharp[:, 0:3].unsqueeze(2), sharp[:, 3:6].unsqueeze(2)]
        else:
            feats = [b[:, :, 0:3].transpose(1, 2), sharp[:, 3:6].unsqueeze(2)]
        return torch.cat(feats, 2), b[:, :, -1]  # [N,3,32,h,w], [N,S,h,w]


def cr(cin, cout, k=3, s=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2), nn.ReLU(inplace=True))


class KernelNet(nn.Module):
    """Encoder-decoder (to 1/8) over signed depth, image, highlight indicator and the slices' blurred
    coverages, predicting a correction to the c = 32 kernel weights per pixel (zero at initialisation)."""

    def __init__(self, cin, w=16, cout=C):
        super().__init__()
        self.e0 = nn.Sequential(cr(cin, w), cr(w, w))
        self.e1 = nn.Sequential(cr(w, w * 2, s=2), cr(w * 2, w * 2))
        self.e2 = nn.Sequential(cr(w * 2, w * 2, s=2), cr(w * 2, w * 2))
        self.e3 = nn.Sequential(cr(w * 2, w * 2, s=2), cr(w * 2, w * 2, k=5))
        self.d2 = cr(w * 4, w * 2)
        self.d1 = cr(w * 4, w * 2)
        self.d0 = cr(w * 3, w)
        self.out = nn.Conv2d(w, cout, 3, 1, 1)
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


def composite_prior(alpha, split_highlight):
    """Kernel weights of back-to-front "over" compositing of the slices' premultiplied blurs,
    normalised by the total coverage: slice k gets T_k / Σ_j T_j·A_j with
    T_k = Π_{j > k} (1 − A_j) (its highlight feature, when split, BOOST times that); the sharp
    features 0."""
    s = alpha.shape[1]
    a = alpha.clamp(0, 1)
    trans = [None] * s
    t = torch.ones_like(a[:, :1])
    for k in range(s - 1, -1, -1):
        trans[k] = t
        t = t * (1 - a[:, k:k + 1])
    tr = torch.cat(trans, 1)
    w = tr / (tr * a).sum(1, keepdim=True).clamp_min(1e-3)
    if split_highlight:
        return torch.cat([w, BOOST * w, torch.zeros_like(w[:, :2])], 1)
    return torch.cat([w, torch.zeros_like(w[:, :1])], 1)


class LensNet(nn.Module):
    """L_i = Σ_j K(x,y,j)·F_i(x,y,j) (Eq. 2) in linear light; K = the compositing prior of the
    depth slices + the kernel network's correction."""

    def __init__(self, variant="s15", r_max=R_MAX):
        super().__init__()
        self.variant, self.r_max = variant, r_max
        v = VARIANTS[variant]
        self.hl_key = v.get("hl_key", 0.9)
        self.split = v["split_highlight"]
        self.features = FeatureExtraction(v["slices"], self.split, v.get("levels", LEVELS))
        self.kernels = KernelNet(6 + len(v["slices"]), cout=features_of(variant))

    def forward(self, image, signed_depth):
        lin = srgb_to_linear(image)
        hl = highlight(image, self.hl_key)
        s = (signed_depth * self.r_max).clamp(-self.r_max, self.r_max)
        f, alpha = self.features(lin, hl, s)
        corr = self.kernels(torch.cat([signed_depth, signed_depth.abs(), image, hl, alpha], 1))
        k = composite_prior(alpha, self.split) + corr
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


class FusionNet(nn.Module):
    """The learned renderer's last step (issue 18, stop 34): per pixel, how much of the physical
    renderer's picture to take in place of Eq. 2's. Eq. 2 composes a few fixed disc blurs, so a
    radius between two slices is a mix of two discs (textured flat regions lose), while the
    physical renderer scatters every pixel at its own radius but builds occlusion and highlights by
    rule; their errors fall in different places (on the selection set a plain average of the two
    beats either by 0.7 dB). The weight α comes from both pictures, their difference, the picture,
    the signed depth, its local range (depth edges), where the radius falls between two slices and
    the local texture, at half size, brought back bilinearly.
    Output: blur + α·(physical − blur), a convex blend, α = 0.5 at the start."""

    def __init__(self, w=32, hl_key=0.95, slices=S15["slices"], lo=0.0, hi=1.0):
        super().__init__()
        self.hl_key, self.lo_a, self.span_a = hl_key, lo, hi - lo
        side = sorted({abs(r) for r in slices})
        self.lo, self.hi = side[:-1], side[1:]
        self.net = nn.Sequential(cr(18, w), nn.Conv2d(w, w, 3, padding=2, dilation=2), nn.ReLU(inplace=True),
                                 nn.Conv2d(w, w, 3, padding=4, dilation=4), nn.ReLU(inplace=True),
                                 nn.Conv2d(w, w, 3, padding=8, dilation=8), nn.ReLU(inplace=True), nn.Conv2d(w, 1, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, image, signed_depth, blur, physical):
        r = signed_depth.abs() * R_MAX
        # Where the radius falls between two of Eq. 2's slices: 0 on a slice, 0.5 half-way.
        phase = sum(torch.clamp(torch.min(r - a, b - r), min=0) / (b - a) for a, b in zip(self.lo, self.hi))
        rng = F.max_pool2d(signed_depth, 7, 1, 3) + F.max_pool2d(-signed_depth, 7, 1, 3)
        texture = F.avg_pool2d((image - F.avg_pool2d(image, 3, 1, 1, count_include_pad=False)).abs().mean(1, keepdim=True),
                               5, 1, 2, count_include_pad=False)
        x = torch.cat([image, signed_depth, signed_depth.abs(), rng, phase, texture, blur, physical, physical - blur,
                       highlight(image, self.hl_key)], 1)
        a = self.lo_a + self.span_a * torch.sigmoid(up_to(self.net(F.avg_pool2d(x, 2, ceil_mode=True)), image))
        return blur + a * (physical - blur)


class FusedLens(nn.Module):
    """The lens model with its fusion head: inputs image, signed_depth and physical (the physical
    renderer's picture at the same size), output blur."""

    def __init__(self, lens, fusion):
        super().__init__()
        self.lens, self.fusion = lens, fusion

    def forward(self, image, signed_depth, physical):
        # Eq. 2 renders up to r_max: beyond it (a model exported with max_radius > r_max) the
        # depth is limited to ±1 for it, and the head sees the whole signed depth.
        return self.fusion(image, signed_depth, self.lens(image, signed_depth.clamp(-1, 1)).clamp(0, 1), physical)


class LimitedLens(nn.Module):
    """The plain lens model for blurs above r_max at the same size: Eq. 2 on the signed depth
    limited to ±1 (the picture a fusion head then corrects)."""

    def __init__(self, lens):
        super().__init__()
        self.lens = lens

    def forward(self, image, signed_depth):
        return self.lens(image, signed_depth.clamp(-1, 1))
