"""wav2lip_fast.fast: the folded, cached inference path equals the plain eval model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.wav2lip_media import randomize
from wav2lip_fast import (
    FaceSkips,
    FastGenerator,
    FoldedWav2Lip,
    Wav2Lip,
    configure_cpu_threads,
    fold_batchnorm,
    make_face_input,
)
from wav2lip_fast.fast import fold_conv_bn

TOL = 1e-4


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


def _close(ref: torch.Tensor, got: torch.Tensor) -> bool:
    """Within TOL, scaled up for activations larger than 1 (float32 sums of ~5000 terms)."""
    return _max_diff(ref, got) < TOL * max(1.0, float(ref.abs().max()))


@pytest.fixture(scope="module")
def plain() -> Wav2Lip:
    return randomize(Wav2Lip(), seed=1)


@pytest.fixture(scope="module")
def folded(plain: Wav2Lip) -> FoldedWav2Lip:
    return fold_batchnorm(plain)


@pytest.fixture(scope="module")
def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(2)
    audio = torch.randn(4, 1, 80, 16, generator=gen) * 2.0
    face = torch.rand(4, 6, 96, 96, generator=gen)
    return audio, face


@pytest.mark.parametrize("transposed", [False, True])
def test_fold_conv_bn_single_layer(transposed: bool) -> None:
    """Transposed weights are [cin, cout, k, k]: the scale must follow the out axis."""
    torch.manual_seed(0)
    conv: nn.Conv2d | nn.ConvTranspose2d = (
        nn.ConvTranspose2d(5, 7, 3, 2, 1, 1) if transposed else nn.Conv2d(5, 7, 3, 2, 1)
    )
    bn = nn.BatchNorm2d(7)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.2, 3)
        bn.weight.uniform_(-2, 2)
        bn.bias.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(2, 5, 9, 9)
    with torch.no_grad():
        assert _max_diff(fold_conv_bn(conv, bn)(x), bn(conv(x))) < 1e-5


def test_the_plain_model_is_not_trivial(plain: Wav2Lip, inputs: tuple[torch.Tensor, ...]) -> None:
    audio, face = inputs
    with torch.no_grad():
        out = plain(audio, face)
    assert float(out.std()) > 0.05 and float(out.min()) + 1 - float(out.max()) > 0.02


def test_no_batchnorm_left(plain: Wav2Lip, folded: FoldedWav2Lip) -> None:
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    n_convs = sum(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in plain.modules())
    assert sum(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in folded.modules()) == n_convs
    assert not folded.training
    with pytest.raises(RuntimeError, match="inference only"):
        folded.train()
    # the plain model is left as it was
    assert sum(isinstance(m, nn.BatchNorm2d) for m in plain.modules()) == 50


def test_folded_parts_equal_plain(
    plain: Wav2Lip, folded: FoldedWav2Lip, inputs: tuple[torch.Tensor, ...]
) -> None:
    audio, face = inputs
    with torch.inference_mode():
        skips_p, skips_f = plain.encode_face(face), folded.encode_face(face)
        emb_p, emb_f = plain.encode_audio(audio), folded.encode_audio(audio)
        for sp, sf in zip(skips_p, skips_f, strict=True):
            assert sp.shape == sf.shape and _close(sp, sf)
        assert _close(emb_p, emb_f)
        # decode alone, from identical inputs
        assert _max_diff(plain.decode(emb_p, skips_p), folded.decode(emb_p, skips_p)) < TOL
        out_p, out_f = plain(audio, face), folded(audio, face)
    assert out_f.shape == (4, 3, 96, 96)
    assert _max_diff(out_p, out_f) < TOL


def test_fold_uses_running_stats_even_from_train_mode(
    plain: Wav2Lip, inputs: tuple[torch.Tensor, ...]
) -> None:
    audio, face = inputs
    plain.train()
    try:
        folded = fold_batchnorm(plain)
    finally:
        plain.eval()
    with torch.inference_mode():
        assert _max_diff(plain(audio, face), folded(audio, face)) < TOL


@pytest.mark.parametrize("channels_last", [False, True])
def test_cached_generation_equals_plain_forward(
    plain: Wav2Lip, channels_last: bool, inputs: tuple[torch.Tensor, ...]
) -> None:
    gen = torch.Generator().manual_seed(3)
    avatar = (torch.rand(5, 3, 96, 96, generator=gen) * 255).to(torch.uint8)  # 5 avatar frames
    fast = FastGenerator(plain, channels_last=channels_last)
    cache = fast.prepare_faces(avatar, batch_size=2)  # several chunks
    assert isinstance(cache, FaceSkips) and len(cache) == 5
    assert cache.nbytes() == 5 * 290_816 * 4
    if channels_last:
        assert cache.skips[0].is_contiguous(memory_format=torch.channels_last)

    indices = [3, 0, 3, 4, 1, 1]  # a batch mixing frames, with repeats
    mel = torch.randn(len(indices), 1, 80, 16, generator=gen) * 2.0
    out = fast.generate(mel, cache, indices)

    face = make_face_input(avatar)[indices]
    with torch.inference_mode():
        expected = plain(mel, face)
    assert out.shape == (6, 3, 96, 96) and out.dtype == torch.float32
    assert _max_diff(out, expected) < TOL
    # a tensor of indices, and a pre-selected cache, give the same
    assert _max_diff(fast.generate(mel, cache, torch.tensor(indices)), out) == 0
    assert _max_diff(fast.generate(mel, cache.select(indices)), out) == 0
    assert _max_diff(fast.forward_full(mel, face), expected) < TOL

    # consecutive frames (the clip played forwards) are views of the cache, same values
    run = cache.select([1, 2, 3])
    assert all(s.data_ptr() == c[1].data_ptr() for s, c in zip(run.skips, cache.skips, strict=True))
    copied = cache.select([1, 2, 4])
    assert all(
        s.data_ptr() != c[1].data_ptr() for s, c in zip(copied.skips, cache.skips, strict=True)
    )
    run_mel = mel[:3]
    assert _max_diff(fast.generate(run_mel, run), fast.generate(run_mel, cache, [1, 2, 3])) == 0
    with torch.inference_mode():
        assert (
            _max_diff(fast.generate(run_mel, run), plain(run_mel, make_face_input(avatar)[1:4]))
            < TOL
        )
    assert len(cache.select([-4, -3])) == 2  # negative indices count from the end


def test_channels_last_matches_plain_layout(plain: Wav2Lip) -> None:
    gen = torch.Generator().manual_seed(4)
    avatar = torch.rand(3, 6, 96, 96, generator=gen)
    mel = torch.randn(3, 1, 80, 16, generator=gen)
    outs = []
    for channels_last in (False, True):
        fast = FastGenerator(plain, channels_last=channels_last)
        outs.append(fast.generate(mel, fast.prepare_faces(avatar)))
    assert _max_diff(outs[0], outs[1]) < 1e-5


def test_make_face_input_masks_lower_half() -> None:
    crop = np.full((2, 3, 96, 96), 255, dtype=np.uint8)
    x = make_face_input(crop)
    assert x.shape == (2, 6, 96, 96) and x.dtype == torch.float32
    assert float(x[:, :3, :48].min()) == 1.0 and float(x[:, :3, 48:].max()) == 0.0
    assert float(x[:, 3:].min()) == 1.0
    six = torch.rand(1, 6, 96, 96)
    assert torch.equal(make_face_input(six), six)


def test_bad_inputs_are_refused(plain: Wav2Lip) -> None:
    fast = FastGenerator(plain)
    cache = fast.prepare_faces(torch.rand(2, 3, 96, 96))
    with pytest.raises(ValueError, match=r"\(N,3,96,96\)"):
        fast.prepare_faces(torch.rand(2, 4, 96, 96))
    with pytest.raises(ValueError, match=r"\(B,1,80,16\)"):
        fast.generate(torch.rand(2, 1, 80, 12), cache)
    with pytest.raises(ValueError, match="2 face frames"):
        fast.generate(torch.rand(3, 1, 80, 16), cache)
    with pytest.raises(ValueError, match="out of range"):
        fast.generate(torch.rand(1, 1, 80, 16), cache, [2])
    with pytest.raises(ValueError, match="float32"):
        FastGenerator(plain, device="cpu", dtype=torch.float16)


def test_configure_cpu_threads() -> None:
    before = torch.get_num_threads()
    try:
        assert configure_cpu_threads(1) == before
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError):
        configure_cpu_threads(0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_float16_on_cuda_is_close(plain: Wav2Lip) -> None:
    gen = torch.Generator().manual_seed(5)
    avatar = torch.rand(4, 6, 96, 96, generator=gen)
    mel = torch.randn(4, 1, 80, 16, generator=gen)
    fast = FastGenerator(plain, device="cuda")
    assert fast.dtype == torch.float16
    out = fast.generate(mel, fast.prepare_faces(avatar), [0, 1, 2, 3])
    with torch.inference_mode():
        expected = plain(mel, avatar)
    assert out.device.type == "cuda"
    assert _max_diff(out.cpu(), expected) < 2e-2
