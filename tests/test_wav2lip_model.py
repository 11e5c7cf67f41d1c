"""wav2lip_fast model and checkpoints: layout of the public files, loading, refusing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from wav2lip_fast import (
    CheckpointError,
    Wav2Lip,
    load_generator,
    resolve_device,
    save_reference_checkpoint,
)

# The public checkpoints' key listing (names, shapes, dtypes: facts, no weights), copied
# from shared/reference so the test never depends on a folder beside the checkout.
LISTING = Path(__file__).resolve().parent / "data" / "wav2lip_state_dict.tsv"


def _listing() -> list[tuple[str, list[int], str]]:
    rows = []
    for line in LISTING.read_text().splitlines()[1:]:
        name, shape, dtype = line.split("\t")
        dims = [int(n) for n in re.findall(r"\d+", shape)]
        rows.append((name, dims, dtype))
    return rows


def _randomize(model: Wav2Lip, seed: int) -> Wav2Lip:
    """Random weights and non-trivial BatchNorm statistics, so loading is really tested."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(0.5 + torch.rand(c, generator=gen))
                module.bias.copy_(0.1 * torch.randn(c, generator=gen))
                assert module.running_mean is not None and module.running_var is not None
                module.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                assert module.num_batches_tracked is not None
                module.num_batches_tracked.fill_(int(torch.randint(1, 10**6, (1,), generator=gen)))
    return model.eval()


@pytest.fixture(scope="module")
def model() -> Wav2Lip:
    torch.manual_seed(1234)
    return _randomize(Wav2Lip(), seed=1)


@pytest.fixture(scope="module")
def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    audio = torch.rand(2, 1, 80, 16, generator=gen) * 8 - 4  # mel units [-4, 4]
    face = torch.rand(2, 6, 96, 96, generator=gen)
    face[:, :3, 48:] = 0  # the lower half of the target face is masked
    return audio, face


@pytest.fixture(scope="module")
def expected(model: Wav2Lip, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return model.generate(*inputs)


# --------------------------------------------------------------------------- layout


def test_state_dict_matches_reference_listing_key_for_key() -> None:
    rows = _listing()
    state = Wav2Lip().state_dict()
    assert len(rows) == 352
    assert list(state) == [name for name, _, _ in rows]
    for name, dims, dtype in rows:
        assert list(state[name].shape) == dims, name
        assert str(state[name].dtype) == f"torch.{dtype}", name


def test_parameter_and_buffer_counts() -> None:
    model = Wav2Lip()
    assert sum(p.numel() for p in model.parameters()) == 36_298_035
    assert sum(b.numel() for b in model.buffers()) == 22_802  # incl. num_batches_tracked
    int_buffers = [b for b in model.buffers() if b.dtype == torch.int64]
    assert len(int_buffers) == 50 and all(b.dim() == 0 for b in int_buffers)


# --------------------------------------------------------------------------- forward


def test_forward_shape_and_range(
    model: Wav2Lip, inputs: tuple[torch.Tensor, torch.Tensor], expected: torch.Tensor
) -> None:
    assert expected.shape == (2, 3, 96, 96)
    assert expected.dtype == torch.float32
    assert float(expected.min()) >= 0.0 and float(expected.max()) <= 1.0
    assert float(expected.std()) > 0.0
    assert not expected.requires_grad
    # The two batch items differ, and each is computed independently of the other.
    assert not torch.equal(expected[0], expected[1])
    single = model.generate(inputs[0][1:], inputs[1][1:])
    torch.testing.assert_close(single[0], expected[1], rtol=0, atol=1e-5)


def test_forward_parts_equal_forward(
    model: Wav2Lip, inputs: tuple[torch.Tensor, torch.Tensor], expected: torch.Tensor
) -> None:
    audio, face = inputs
    with torch.inference_mode():
        skips = model.encode_face(face)
        assert [tuple(s.shape[1:]) for s in skips] == [
            (16, 96, 96),
            (32, 48, 48),
            (64, 24, 24),
            (128, 12, 12),
            (256, 6, 6),
            (512, 3, 3),
            (512, 1, 1),
        ]
        embedding = model.encode_audio(audio)
        assert embedding.shape == (2, 512, 1, 1)
        assert torch.equal(model.decode(embedding, skips), expected)


def test_forward_is_differentiable_outside_inference_mode() -> None:
    model = Wav2Lip().train()
    out = model(torch.rand(2, 1, 80, 16), torch.rand(2, 6, 96, 96))
    out.mean().backward()
    assert model.output_block[1].weight.grad is not None


@pytest.mark.parametrize(
    ("audio_shape", "face_shape", "message"),
    [
        ((2, 80, 16), (2, 6, 96, 96), r"audio must have shape \(B,1,80,16\)"),
        ((2, 1, 16, 80), (2, 6, 96, 96), r"audio must have shape \(B,1,80,16\)"),
        ((2, 1, 80, 16), (2, 3, 96, 96), r"face must have shape \(B,6,96,96\)"),
        ((2, 1, 80, 16), (2, 6, 128, 128), r"face must have shape \(B,6,96,96\)"),
        ((2, 1, 80, 16), (3, 6, 96, 96), "batch sizes differ"),
    ],
)
def test_bad_shapes_raise_value_error(
    model: Wav2Lip,
    audio_shape: tuple[int, ...],
    face_shape: tuple[int, ...],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        model.generate(torch.zeros(audio_shape), torch.zeros(face_shape))


# --------------------------------------------------------------------------- loading


@pytest.mark.parametrize(
    ("module_prefix", "with_optimizer"), [(False, False), (True, False), (True, True)]
)
def test_reference_layout_checkpoint_loads_and_reproduces_outputs(
    model: Wav2Lip,
    inputs: tuple[torch.Tensor, torch.Tensor],
    expected: torch.Tensor,
    tmp_path: Path,
    module_prefix: bool,
    with_optimizer: bool,
) -> None:
    path = tmp_path / "checkpoint_step000000001.pth"
    save_reference_checkpoint(
        model, path, module_prefix=module_prefix, with_optimizer=with_optimizer, global_step=1
    )
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert set(raw) == {"state_dict", "optimizer", "global_step", "global_epoch"}
    assert all(k.startswith("module.") == module_prefix for k in raw["state_dict"])
    assert (raw["optimizer"] is not None) == with_optimizer
    if with_optimizer:
        assert len(raw["optimizer"]["state"]) == len(list(model.parameters()))
    del raw

    loaded = load_generator(path)
    assert not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert torch.equal(loaded.generate(*inputs), expected)


def test_bare_state_dict_loads(
    model: Wav2Lip,
    inputs: tuple[torch.Tensor, torch.Tensor],
    expected: torch.Tensor,
    tmp_path: Path,
) -> None:
    path = tmp_path / "bare.pth"
    torch.save(model.state_dict(), path)
    assert torch.equal(load_generator(path, device="auto").generate(*inputs), expected)


def test_dtype_argument(tmp_path: Path) -> None:
    path = tmp_path / "g.pth"
    save_reference_checkpoint(Wav2Lip(), path)
    loaded = load_generator(path, dtype=torch.float64)
    assert loaded.output_block[1].weight.dtype == torch.float64
    assert (
        loaded.state_dict()["output_block.0.conv_block.1.num_batches_tracked"].dtype == torch.int64
    )
    with pytest.raises(ValueError, match="floating-point"):
        load_generator(path, dtype=torch.int32)


def test_resolve_device() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


# --------------------------------------------------------------------------- refusing


class _OtherNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        self.classifier = nn.Linear(8, 2)


def test_refuses_state_dict_of_another_model(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"state_dict": _OtherNet().state_dict(), "optimizer": None}, path)
    with pytest.raises(CheckpointError) as info:
        load_generator(path)
    message = str(info.value)
    assert "not a Wav2Lip generator" in message
    assert "352 missing keys" in message
    assert "face_encoder_blocks.0.0.conv_block.0.weight" in message
    assert "and 347 more" in message
    assert "9 unexpected keys" in message
    assert "features.0.weight" in message and "classifier.weight" not in message  # 5 shown
    assert "and 4 more" in message


def test_refuses_truncated_state_dict(model: Wav2Lip, tmp_path: Path) -> None:
    state = {"module." + k: v for k, v in model.state_dict().items()}
    keys = list(state)
    for key in keys[-2:]:
        del state[key]
    path = tmp_path / "truncated.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError) as info:
        load_generator(path)
    message = str(info.value)
    assert "2 missing keys: output_block.1.weight, output_block.1.bias" in message
    assert "unexpected" not in message


def test_refuses_shape_mismatch(model: Wav2Lip, tmp_path: Path) -> None:
    state = dict(model.state_dict())
    state["output_block.1.weight"] = torch.zeros(4, 32, 1, 1)
    state["output_block.1.bias"] = torch.zeros(4)
    path = tmp_path / "mismatch.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        load_generator(path)
    message = str(info.value)
    assert "2 shape mismatches" in message
    assert "output_block.1.weight [4, 32, 1, 1] (expected [3, 32, 1, 1])" in message
    assert "missing" not in message


def test_refuses_a_tensor_file(tmp_path: Path) -> None:
    path = tmp_path / "tensor.pth"
    torch.save(torch.randn(10, 10), path)
    with pytest.raises(CheckpointError, match="holds a Tensor"):
        load_generator(path)


def test_refuses_non_tensor_entries(tmp_path: Path) -> None:
    path = tmp_path / "ints.pth"
    torch.save({"state_dict": {"a": 1, "b": "x"}}, path)
    with pytest.raises(CheckpointError, match="not tensors: a, b"):
        load_generator(path)


class _Payload:
    """A pickled object: weights-only loading must refuse it, never construct it."""

    constructed = False

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_Payload._mark, ())

    @staticmethod
    def _mark() -> _Payload:
        _Payload.constructed = True
        return _Payload()


def test_refuses_pickled_objects_without_running_them(tmp_path: Path) -> None:
    path = tmp_path / "object.pth"
    torch.save({"state_dict": _Payload()}, path)
    with pytest.raises(CheckpointError, match="weights-only"):
        load_generator(path)
    assert not _Payload.constructed


def test_refuses_garbage_and_missing_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_generator(garbage)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_generator(tmp_path / "absent.pth")
