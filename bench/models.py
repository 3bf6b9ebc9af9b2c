"""models.py — the benchmark networks as PyTorch modules, one per case.

Each energy network maps x to one energy per sample ([N, 1]).  The image
networks are the `ebm init` presets (zoo/presets.c) rebuilt in torch, layer
for layer, so both sides run the same computation:

  unet   [N,1,28,28] (the mnist preset): a denoiser f with levels of 16, 32
         and 64 channels (conv3x3 + GroupNorm of 4 groups + SiLU, stride 2
         but the first), a middle block, back up (1x1 conv, nearest x2, the
         level's skip added, conv3x3 + GN + SiLU), conv3x3 -> 1;
         E = a sqrt(|x - f(x)|^2 + 0.01)
  mnist  [N,1,28,28] (the mnist preset before December 2026, kept as a
         benchmark case): conv3x3 16/s2, 32/s2, 64/s2, 64/s1, each +
         GroupNorm (at most 4 groups) + SiLU; global mean; 64 -> 32 -> 16
         -> 1 with SiLU; plus the Gaussian term 1/2 |scale (x - center)|^2
  cifar  [N,3,32,32]: the same with 32/s2, 64/s2, 128/s2, 256/s1 residual
         blocks: conv(s) -> GN -> SiLU -> conv(1) -> GN, plus the shortcut
         (a 1x1 conv with the block's stride where the shape changes), SiLU

GroupNorm uses min(32, C) groups (the largest divisor of C not above 32, as
norm_groups in zoo/presets.c), eps 1e-5.  check_presets() in run_bench.py
compares the parameter shapes with `ebm init --preset mnist|cifar`
(unet_b64 and cifar_b32).

  transformer [N,1,28,28]: a stock ViT-style energy, the fixtures'
         TransformerEnergy (tests/fixtures/gen_fixtures.py) at bench size:
         Conv2d 7x7 stride 7 patch embedding (16 tokens of 64) + learned
         positions, 2 x nn.TransformerEncoderLayer(64, 4 heads, ff 128,
         dropout 0, batch_first), mean over tokens, Linear(64, 1)
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def norm_groups(c, most=32):
    g = min(c, most)
    while c % g:
        g -= 1
    return g


class MLP(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.silu(x)
        return x


class ConvNorm(nn.Module):
    def __init__(self, cin, cout, stride, groups=32):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.norm = nn.GroupNorm(norm_groups(cout, groups), cout, eps=1e-5)

    def forward(self, x):
        return self.norm(self.conv(x))


class Residual(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = ConvNorm(cin, cout, stride)
        self.b = ConvNorm(cout, cout, 1)
        self.proj = nn.Conv2d(cin, cout, 1, stride=stride) if cin != cout or stride != 1 else None

    def forward(self, x):
        y = self.b(F.silu(self.a(x)))
        return F.silu(y + (self.proj(x) if self.proj is not None else x))


class Deep(nn.Module):
    """The `deep` energy of zoo/presets.c (mnist, cifar)."""

    def __init__(self, cin, hidden, residual, groups=32, quad_shape=None):
        super().__init__()
        blocks, c = [], cin
        for i, h in enumerate(hidden):
            stride = 2 if i < len(hidden) - 1 else 1
            blocks.append(Residual(c, h, stride) if residual else ConvNorm(c, h, stride, groups))
            c = h
        self.blocks = nn.ModuleList(blocks)
        self.residual = residual
        self.head = MLP([c, c // 2, c // 4, 1])
        # the Gaussian term 1/2 |scale (x - center)|^2 (zoo/presets.c: center 0, scale 0.5)
        self.quad = None
        if quad_shape is not None:
            self.center = nn.Parameter(torch.zeros((1,) + quad_shape))
            self.scale = nn.Parameter(torch.full((1,) + quad_shape, 0.5))
            self.quad = True

    def forward(self, x):
        x0 = x
        for b in self.blocks:
            x = b(x) if self.residual else F.silu(b(x))
        e = self.head(x.mean(dim=(2, 3)))
        if self.quad:
            e = e + 0.5 * ((self.scale * (x0 - self.center)) ** 2).sum(dim=(1, 2, 3)).unsqueeze(1)
        return e


class UNetBlock(nn.Module):
    def __init__(self, cin, cout, stride, groups):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.norm = nn.GroupNorm(groups, cout)

    def forward(self, x):
        return F.silu(self.norm(self.conv(x)))


class UNetEnergy(nn.Module):
    """The `unet` energy of zoo/presets.c (mnist): a denoiser f with a level
    per width (stride 2 but the first), a middle block, back up by 1x1 conv,
    nearest upsampling and the level's skip added; E = a |x - f(x)| with
    a = exp(log_scale), |r| = sqrt(sum r^2 + 0.01)."""

    def __init__(self, cin=1, widths=(16, 32, 64), groups=4, side=28):
        super().__init__()
        self.down = nn.ModuleList()
        c = cin
        for i, w in enumerate(widths):
            self.down.append(UNetBlock(c, w, 1 if i == 0 else 2, min(groups, w)))
            c = w
        self.mid = UNetBlock(c, c, 1, min(groups, c))
        self.proj = nn.ModuleList([nn.Conv2d(widths[i + 1], widths[i], 1) for i in range(len(widths) - 1)])
        self.up = nn.ModuleList([UNetBlock(w, w, 1, min(groups, w)) for w in widths[:-1]])
        self.out = nn.Conv2d(widths[0], cin, 3, padding=1)
        self.log_scale = nn.Parameter(torch.tensor([math.log(math.sqrt(cin * side * side) / 0.05 / 2)]))

    def forward(self, x):
        skips, h = [], x
        for b in self.down:
            h = b(h)
            skips.append(h)
        h = self.mid(h)
        for i in range(len(self.up) - 1, -1, -1):
            s = skips[i]
            h = F.interpolate(self.proj[i](h), scale_factor=2, mode="nearest")[:, :, :s.shape[2], :s.shape[3]]
            h = self.up[i](h + s)
        r = x - self.out(h)
        return (torch.exp(self.log_scale) * torch.sqrt((r * r).sum(dim=(1, 2, 3)) + 0.01)).unsqueeze(1)


class TransformerEnergy(nn.Module):
    def __init__(self, side=28, patch=7, e=64, heads=4, ff=128, layers=2):
        super().__init__()
        self.embed = nn.Conv2d(1, e, patch, stride=patch)
        self.pos = nn.Parameter(0.2 * torch.randn((side // patch) ** 2, e))
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(e, heads, dim_feedforward=ff, dropout=0.0, batch_first=True)
            for _ in range(layers)])
        self.out = nn.Linear(e, 1)

    def forward(self, x):
        h = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        for layer in self.layers:
            h = layer(h)
        return self.out(h.mean(dim=1))


class Volume3d(nn.Module):
    """A volumetric (or video) energy: 3-D convolutions, pooling, a quadratic term."""

    def __init__(self, side=16, c=(1, 16, 32)):
        super().__init__()
        self.c1 = nn.Conv3d(c[0], c[1], 3, stride=2, padding=1)        # 16 -> 8
        self.c2 = nn.Conv3d(c[1], c[2], 3, padding=1)                  # 8
        self.pool = nn.MaxPool3d(2)                                     # 8 -> 4
        self.c3 = nn.Conv3d(c[2], c[2], 3, padding=1)                  # 4
        self.out = nn.Linear(c[2], 1)

    def forward(self, x):
        h = F.silu(self.c1(x))
        h = self.pool(F.silu(self.c2(h)))
        h = F.silu(self.c3(h))
        return self.out(h.mean(dim=(2, 3, 4))) + 0.5 * (x ** 2).sum(dim=(1, 2, 3, 4)).unsqueeze(1)


def matmul_flops(model, x):
    """Multiply-add FLOPs (2 per MAC) of the linear and conv layers of one
    forward pass on x."""
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Linear):
            total[0] += 2 * out.numel() * mod.in_features
        elif isinstance(mod, (nn.Conv2d, nn.Conv3d)):
            k = mod.in_channels // mod.groups
            for ks in mod.kernel_size:
                k *= ks
            total[0] += 2 * out.numel() * k
        elif isinstance(mod, nn.MultiheadAttention):   # in-projection and the two attention products
            q = inp[0]
            t, e = q.shape[-2] if mod.batch_first else q.shape[0], mod.embed_dim
            total[0] += 2 * q.numel() * 3 * e + 2 * 2 * (q.numel() // e) * t * e

    kinds = (nn.Linear, nn.Conv2d, nn.Conv3d, nn.MultiheadAttention)
    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return total[0]


# name: (constructor, per-sample input shape, batch, ebmc tile)
# The tile: ebmc's default is 64; where a batch is one tile or less, the
# case uses half the batch so that 2 threads have 2 tiles to share.
CASES = {
    "mlp784_b128": (lambda: MLP([784, 256, 256, 1]), (784,), 128, 64),
    "mlp784_b1": (lambda: MLP([784, 256, 256, 1]), (784,), 1, 64),
    "mnist_b64": (lambda: Deep(1, [16, 32, 64, 64], False, groups=4, quad_shape=(1, 28, 28)), (1, 28, 28), 64, 16),
    "unet_b64": (UNetEnergy, (1, 28, 28), 64, 16),
    "cifar_b32": (lambda: Deep(3, [32, 64, 128, 256], True), (3, 32, 32), 32, 16),
    "tabular_b4096": (lambda: MLP([2, 64, 64, 1]), (2,), 4096, 64),
    "transformer_b64": (TransformerEnergy, (1, 28, 28), 64, 16),
    "volume3d_b16": (Volume3d, (1, 16, 16, 16), 16, 8),
}
