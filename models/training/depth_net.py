"""Depth network of paper §3.1, scaled down for CPU video: a residual encoder (stride 32), a pyramid
pooling layer, a decoder of ×2 bilinear upsamplings with encoder skips, and two multi-task heads of
three convolutions each (normalised inverse depth, foreground segmentation)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = (0.45, 0.45, 0.45)
STD = (0.25, 0.25, 0.25)


def cbr(cin, cout, stride=1, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = cbr(c, c)
        self.b = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return F.relu(x + self.b(self.a(x)))


class Down(nn.Module):
    def __init__(self, cin, cout, blocks=1):
        super().__init__()
        self.down = cbr(cin, cout, 2)
        self.blocks = nn.Sequential(*[ResBlock(cout) for _ in range(blocks)])

    def forward(self, x):
        return self.blocks(self.down(x))


class PyramidPool(nn.Module):
    """Pyramid pooling [Zhao et al. 2017] in a form that exports with dynamic sizes: a global
    average (bin 1×1) plus two local averages of growing extent, each projected and concatenated."""

    def __init__(self, c, cb):
        super().__init__()
        self.proj = nn.ModuleList([cbr(c, cb, k=1) for _ in range(3)])
        self.fuse = cbr(c + 3 * cb, c)

    def forward(self, x):
        g = x.mean(dim=(2, 3), keepdim=True)
        p1 = self.proj[0](g).expand(-1, -1, x.shape[2], x.shape[3])
        p2 = self.proj[1](F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
        p3 = self.proj[2](F.avg_pool2d(x, 5, 1, 2, count_include_pad=False))
        return self.fuse(torch.cat([x, p1, p2, p3], 1))


class Up(nn.Module):
    def __init__(self, cin, cskip, cout):
        super().__init__()
        self.conv = nn.Sequential(cbr(cin + cskip, cout), cbr(cout, cout))

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], 1))


def head(c):
    return nn.Sequential(cbr(c, c), cbr(c, c), nn.Conv2d(c, 1, 3, 1, 1))


class DepthNet(nn.Module):
    def __init__(self, ch=(16, 24, 40, 64, 96)):
        super().__init__()
        c0, c1, c2, c3, c4 = ch
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))
        self.stem = cbr(3, c0, 2)          # 1/2
        self.e1 = Down(c0, c1)             # 1/4
        self.e2 = Down(c1, c2)             # 1/8
        self.e3 = Down(c2, c3)             # 1/16
        self.e4 = Down(c3, c4)             # 1/32
        self.ppm = PyramidPool(c4, c4 // 4)
        self.u3 = Up(c4, c3, c3)
        self.u2 = Up(c3, c2, c2)
        self.u1 = Up(c2, c1, c1)
        self.u0 = Up(c1, c0, 16)
        self.depth_head = head(16)
        self.seg_head = head(16)

    def forward(self, image):
        x = (image - self.mean) / self.std
        s0 = self.stem(x)
        s1 = self.e1(s0)
        s2 = self.e2(s1)
        s3 = self.e3(s2)
        s4 = self.ppm(self.e4(s3))
        d = self.u3(s4, s3)
        d = self.u2(d, s2)
        d = self.u1(d, s1)
        d = self.u0(d, s0)
        size = image.shape[2:]
        depth = torch.sigmoid(F.interpolate(self.depth_head(d), size=size, mode="bilinear", align_corners=False))
        seg = torch.sigmoid(F.interpolate(self.seg_head(d), size=size, mode="bilinear", align_corners=False))
        return depth, seg
