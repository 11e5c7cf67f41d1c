"""Winograd F(4x4, 3x3): the same 3x3 convolution with a quarter of the multiplications.

On a CPU the generator's wide 3x3 convolutions (128 to 512 channels) already run near
the machine's peak float32 rate through oneDNN, so the only way to make them faster
without changing what they compute is less arithmetic. Winograd's minimal filtering
algorithm computes each 4x4 block of output from a 6x6 block of input as

    Y = A^T [ (G g G^T) * (B^T d B) ] A        (* elementwise, summed over channels)

with small constant matrices A, B, G (interpolation points 0, +-1, +-2 and infinity).
Per output pixel the channel-mixing products drop from 9 to 36/16 = 2.25: the filter
transform ``G g G^T`` is done once, when the layer is built; the input and output
transforms are additions and multiplications by small integers, done with a few
batched matrix products; the channel mixing becomes 36 independent matrix products
``(tiles x cin) @ (cin x cout)``, one per position in the 6x6 block.

The result equals the direct convolution up to float32 rounding (about 1e-5 relative,
tested against ``F.conv2d``). The transforms move 2.25x the input through memory, so
the layer is worth it only for wide layers: measured on 2 AVX2 cores in batches of
32 frames (direct convolution at ~80 GFLOP/s), 512 channels at 6x6 run 1.5x faster,
384 at 12x12 1.9x, 256 at 20x24 1.9x, 128 at 12x12 1.45x, 128 at 34x48 1.35x, but 64
at 24x24 1.1x *slower* (hence :data:`MIN_CHANNELS`). Small maps whose last tiles hang
far over the edge gain nothing: 256 channels at 6x6 (tiles cover 8x8, 56 % used) run
at the same speed, 128 at 9x6 1.4x slower; those (below :data:`MIN_TILE_USE`, unless
512 channels wide) go through the direct convolution, as do maps under 4x4. Frames go
through in small groups so that a group's transformed tiles (about
:data:`GROUP_VALUES` floats) stay in the CPU caches.

GPUs get none of this: cuDNN picks its own algorithms (Winograd among them).
"""

from __future__ import annotations

from typing import TypeGuard

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "GROUP_VALUES",
    "MIN_CHANNELS",
    "MIN_TILE_USE",
    "WinogradConv3x3",
    "use_winograd",
    "winograd_convs",
]

TILE_OUT = 4  # m: output pixels per tile side
TILE_IN = TILE_OUT + 2  # m + r - 1 for a 3x3 filter
MIN_CHANNELS = 128  # narrower layers are faster as direct convolutions
MIN_TILE_USE = 0.75  # output pixels / pixels the tiles cover, below which direct is used
WIDE_CHANNELS = 512  # layers this wide gain even with poorly used tiles
GROUP_VALUES = 1 << 21  # transformed tile values per group of frames (8 MiB in float32)

# F(4x4, 3x3) with the points 0, 1, -1, 2, -2 and infinity.
_BT = (
    (4, 0, -5, 0, 1, 0),
    (0, -4, -4, 1, 1, 0),
    (0, 4, -4, -1, 1, 0),
    (0, -2, -1, 2, 1, 0),
    (0, 2, -1, -2, 1, 0),
    (0, 4, 0, -5, 0, 1),
)
_G = (
    (1 / 4, 0, 0),
    (-1 / 6, -1 / 6, -1 / 6),
    (-1 / 6, 1 / 6, -1 / 6),
    (1 / 24, 1 / 12, 1 / 6),
    (1 / 24, -1 / 12, 1 / 6),
    (0, 0, 1),
)
_AT = (
    (1, 1, 1, 1, 1, 0),
    (0, 1, -1, 2, -2, 0),
    (0, 1, 1, 4, 4, 0),
    (0, 1, -1, 8, -8, 1),
)


def _same_3x3(conv: nn.Module) -> bool:
    """A plain 3x3 convolution, stride 1, zero padding 1, no dilation or groups."""
    return (
        type(conv) is nn.Conv2d
        and conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
    )


def use_winograd(conv: nn.Module) -> TypeGuard[nn.Conv2d]:
    """Whether ``conv`` is a convolution :class:`WinogradConv3x3` replaces with gain."""
    return (
        isinstance(conv, nn.Conv2d)
        and _same_3x3(conv)
        and min(conv.in_channels, conv.out_channels) >= MIN_CHANNELS
    )


def winograd_convs(model: nn.Module) -> int:
    """Swap, in place, every convolution of ``model`` that gains for a Winograd one.

    Returns how many were swapped. The model must be for inference only (the new
    layers hold transformed weights, not parameters).
    """
    swapped = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if use_winograd(child):
                setattr(module, name, WinogradConv3x3(child))
                swapped += 1
    return swapped


class WinogradConv3x3(nn.Module):
    """A 3x3, stride 1, padding 1 convolution computed with Winograd F(4x4, 3x3).

    Built from an ``nn.Conv2d`` (:func:`use_winograd` says which qualify); inference
    only, float32. Inputs that would not gain (see the module doc) go through the
    direct convolution. The output is channels-last.
    """

    bias: Tensor
    weight: Tensor
    bt: Tensor
    at: Tensor

    def __init__(
        self,
        conv: nn.Conv2d,
        group_values: int = GROUP_VALUES,
        min_tile_use: float = MIN_TILE_USE,
    ) -> None:
        super().__init__()
        if not _same_3x3(conv):
            raise ValueError(f"not a 3x3 convolution with stride 1 and zero padding 1: {conv}")
        if group_values < 1:
            raise ValueError(f"group_values must be >= 1, got {group_values}")
        weight = conv.weight.detach()
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.group_values = group_values
        self.min_tile_use = min_tile_use
        self._u: Tensor | None = None  # made at the first tiled call (4x the weights)
        bias = conv.bias.detach() if conv.bias is not None else weight.new_zeros(weight.shape[0])
        self.register_buffer("bias", bias.float().clone())
        self.register_buffer("weight", weight.float().clone())  # for the small-input path
        self.register_buffer("bt", torch.tensor(_BT, dtype=torch.float32, device=weight.device))
        self.register_buffer("at", torch.tensor(_AT, dtype=torch.float32, device=weight.device))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size=(3, 3), F(4x4, 3x3)"

    def transformed_filters(self) -> Tensor:
        """(36, cin, cout): ``U[i*6+j, c, k] = (G w[k, c] G^T)[i, j]`` (float64, rounded once).

        Made on first use, so a layer that only ever sees small maps (and so runs the
        direct convolution) never holds it.
        """
        w = self.weight
        if self._u is None or self._u.device != w.device:
            g = torch.tensor(_G, dtype=torch.float64, device=w.device)
            u = torch.einsum("ia,kcab,jb->ijck", g, w.double(), g)
            self._u = u.reshape(TILE_IN * TILE_IN, self.in_channels, self.out_channels).float()
        return self._u

    def _gains(self, height: int, width: int) -> bool:
        if height < TILE_OUT or width < TILE_OUT:
            return False
        covered = -(-height // TILE_OUT) * -(-width // TILE_OUT) * TILE_OUT * TILE_OUT
        wide = min(self.in_channels, self.out_channels) >= WIDE_CHANNELS
        return wide or height * width >= self.min_tile_use * covered

    def forward(self, x: Tensor) -> Tensor:  # (B, cin, H, W) -> (B, cout, H, W)
        batch, channels, height, width = x.shape
        if channels != self.in_channels:
            raise ValueError(f"expected {self.in_channels} input channels, got {channels}")
        if x.dtype != torch.float32 or not self._gains(height, width):
            return F.conv2d(x, self.weight.to(x.dtype), self.bias.to(x.dtype), padding=1)
        m, t = TILE_OUT, TILE_IN
        cout = self.out_channels
        rows, cols = -(-height // m), -(-width // m)  # tiles down and across
        out = torch.empty((batch, cout, height, width), dtype=x.dtype, device=x.device).contiguous(
            memory_format=torch.channels_last
        )
        out_nhwc = out.permute(0, 2, 3, 1)  # a contiguous view
        x_nhwc = x.permute(0, 2, 3, 1)
        u = self.transformed_filters()
        per_frame = rows * cols * t * t * max(channels, cout)
        group = max(1, self.group_values // per_frame)
        for start in range(0, batch, group):
            n = min(group, batch - start)
            tiles = rows * cols * n
            # Zero padding: 1 above and left (the convolution's own), enough below and
            # right for whole tiles.
            xp = F.pad(
                x_nhwc[start : start + n],
                (0, 0, 1, cols * m + 1 - width, 1, rows * m + 1 - height),
            ).contiguous()  # the strides below assume a plain NHWC block
            hp, wp = xp.shape[1], xp.shape[2]
            # d[u, v, b, r, c, ch] = xp[b, r*m + u, c*m + v, ch]: the overlapping 6x6 tiles.
            d = xp.as_strided(
                (t, t, n, rows, cols, channels),
                (wp * channels, channels, hp * wp * channels, m * wp * channels, m * channels, 1),
            ).reshape(t, t * tiles * channels)
            # V = B^T d B for every tile and channel: rows, then columns.
            v = torch.matmul(self.bt, (self.bt @ d).view(t, t, tiles * channels))
            # 36 channel-mixing products: (tiles x cin) @ (cin x cout).
            mixed = torch.bmm(v.view(t * t, tiles, channels), u)
            # Y = A^T M A: rows, then columns -> (m, m, tiles * cout).
            y = torch.matmul(self.at, (self.at @ mixed.view(t, t * tiles * cout)).view(m, t, -1))
            y = y.view(m, m, n, rows, cols, cout).permute(2, 3, 0, 4, 1, 5)
            target = out_nhwc[start : start + n]
            if rows * m == height and cols * m == width:
                target.view(n, rows, m, cols, m, cout).copy_(y)
            else:
                target.copy_(y.reshape(n, rows * m, cols * m, cout)[:, :height, :width])
        out.add_(self.bias.view(1, -1, 1, 1))
        return out
