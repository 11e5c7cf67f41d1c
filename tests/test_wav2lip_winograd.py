"""wav2lip_fast.winograd: F(4x4, 3x3) gives the direct convolution's result."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.wav2lip_media import randomize
from wav2lip_fast import FastGenerator, Wav2Lip, fold_batchnorm
from wav2lip_fast.fast import LOWER_FROM_ROW
from wav2lip_fast.winograd import (
    MIN_CHANNELS,
    WinogradConv3x3,
    use_winograd,
    winograd_convs,
)


def _relative_error(ref: torch.Tensor, got: torch.Tensor) -> float:
    return float((ref - got).abs().max() / ref.abs().max())


@pytest.mark.parametrize(
    ("batch", "cin", "cout", "height", "width"),
    [
        (1, 8, 8, 4, 4),  # one tile
        (3, 16, 12, 7, 9),  # partial tiles on both edges, cin != cout
        (5, 32, 24, 13, 6),
        (2, 12, 20, 96, 8),  # tall and thin
        (4, 24, 16, 20, 34),  # the lower-half decode's shapes: 34 rows
    ],
)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("group_values", [1, 5_000, 1 << 21])  # groups of 1, a few, all
def test_equals_direct_convolution(
    batch: int,
    cin: int,
    cout: int,
    height: int,
    width: int,
    channels_last: bool,
    group_values: int,
) -> None:
    torch.manual_seed(batch * 1000 + cin)
    conv = nn.Conv2d(cin, cout, 3, 1, 1)
    x = torch.randn(batch, cin, height, width) * 3.0
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        ref = conv(x)
        got = WinogradConv3x3(conv, group_values=group_values, min_tile_use=0.0)(x)
    assert got.shape == ref.shape and got.dtype == torch.float32
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert _relative_error(ref, got) < 1e-5


def test_no_bias_and_a_wide_layer() -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(MIN_CHANNELS, 2 * MIN_CHANNELS, 3, 1, 1, bias=False)
    x = torch.randn(2, MIN_CHANNELS, 12, 12)
    with torch.no_grad():
        assert _relative_error(conv(x), WinogradConv3x3(conv)(x)) < 1e-5


def test_inputs_that_would_not_gain_take_the_direct_path(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(2)
    conv = nn.Conv2d(6, 5, 3, 1, 1)
    layer = WinogradConv3x3(conv)
    tiled: list[int] = []
    monkeypatch.setattr(torch, "bmm", lambda *a: tiled.append(1) or torch.matmul(*a))
    with torch.no_grad():
        # under 4x4, and tiles mostly hanging over the edge (9x6 -> 12x8: 56 % used)
        for x in (torch.randn(2, 6, 3, 3), torch.randn(2, 6, 1, 9), torch.randn(2, 6, 9, 6)):
            assert _relative_error(conv(x), layer(x)) < 1e-6
        assert not tiled
        x = torch.randn(2, 6, 12, 8)  # whole tiles
        assert _relative_error(conv(x), layer(x)) < 1e-5
        assert len(tiled) == 1
        x64 = torch.randn(2, 6, 8, 8, dtype=torch.float64)
        out = layer(x64)
        assert out.dtype == torch.float64
        assert (
            _relative_error(F.conv2d(x64, conv.weight.double(), conv.bias.double(), padding=1), out)
            < 1e-6
        )
    with pytest.raises(ValueError, match="expected 6 input channels"):
        layer(torch.randn(1, 5, 8, 8))


@pytest.mark.parametrize(
    ("layer", "swapped"),
    [
        (nn.Conv2d(MIN_CHANNELS, MIN_CHANNELS, 3, 1, 1), True),
        (nn.Conv2d(512, 512, 3, 1, 1), True),
        (nn.Conv2d(MIN_CHANNELS // 2, MIN_CHANNELS, 3, 1, 1), False),  # too narrow to gain
        (nn.Conv2d(256, 256, 3, 2, 1), False),  # stride 2
        (nn.Conv2d(256, 256, 3, 1, 0), False),  # no padding
        (nn.Conv2d(256, 256, 1), False),
        (nn.Conv2d(256, 256, 3, 1, 1, groups=2), False),
        (nn.Conv2d(256, 256, 3, 1, 1, padding_mode="reflect"), False),
        (nn.ConvTranspose2d(256, 256, 3, 1, 1), False),
    ],
)
def test_which_layers_are_swapped(layer: nn.Module, swapped: bool) -> None:
    assert use_winograd(layer) is swapped
    model = nn.Sequential(layer)
    assert winograd_convs(model) == int(swapped)
    assert isinstance(model[0], WinogradConv3x3) is swapped


def test_refuses_other_convolutions() -> None:
    with pytest.raises(ValueError, match="3x3 convolution with stride 1"):
        WinogradConv3x3(nn.Conv2d(8, 8, 3, 2, 1))
    with pytest.raises(ValueError, match="group_values"):
        WinogradConv3x3(nn.Conv2d(8, 8, 3, 1, 1), group_values=0)


def test_generator_with_winograd_equals_plain_model() -> None:
    """The CPU default: the wide 3x3 layers swapped, the output unchanged."""
    plain = randomize(Wav2Lip(), seed=5)
    folded = fold_batchnorm(plain)
    fast = FastGenerator(folded)  # the CPU default
    direct = FastGenerator(plain, winograd=False)
    # 9 decoder, 5 face-encoder and 3 audio-encoder layers: >= 128 channels, 3x3, stride 1
    assert fast.winograd_layers == 17 and direct.winograd_layers == 0
    # the caller's folded model is left as it was
    assert not any(isinstance(m, WinogradConv3x3) for m in folded.modules())
    gen = torch.Generator().manual_seed(6)
    faces = torch.rand(3, 6, 96, 96, generator=gen)
    mel = torch.randn(3, 1, 80, 16, generator=gen) * 2.0
    with torch.inference_mode():
        expected = plain(mel, faces)
    for generator in (fast, direct):
        skips = generator.prepare_faces(faces)
        full = generator.generate(mel, skips)
        lower = generator.generate(mel, skips, lower_only=True)
        assert float((full - expected).abs().max()) < 1e-4
        assert float((lower - expected)[:, :, LOWER_FROM_ROW:].abs().max()) < 1e-4


def test_filters_are_transformed_only_for_layers_that_tile() -> None:
    torch.manual_seed(3)
    layer = WinogradConv3x3(nn.Conv2d(8, 8, 3, 1, 1))
    with torch.no_grad():
        layer(torch.randn(1, 8, 3, 3))  # direct path
        assert layer._u is None
        layer(torch.randn(1, 8, 8, 8))
    u = layer.transformed_filters()
    assert u.shape == (36, 8, 8) and layer.transformed_filters() is u  # made once
