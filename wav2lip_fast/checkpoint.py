"""Loading (and, for tests, writing) checkpoints in the public Wav2Lip layout.

A reference checkpoint is a ``torch.save``d dict::

    {"state_dict": {name: tensor}, "optimizer": dict | None,
     "global_step": int, "global_epoch": int}

Only ``state_dict`` is read. Every occurrence of ``module.`` in its keys is removed
(the ``DataParallel`` prefix), then the keys and shapes must match :class:`Wav2Lip`
exactly. Files are read with ``weights_only=True``: loading never runs code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from wav2lip_fast.model import Wav2Lip

StrPath = str | os.PathLike[str]

_SHOW_KEYS = 5  # key names quoted per list in an error message


class CheckpointError(ValueError):
    """The file is unreadable or does not hold a Wav2Lip generator."""


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> cuda when available, else cpu; anything else as torch reads it."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _some(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW_KEYS])
    rest = len(keys) - _SHOW_KEYS
    return f"{shown} and {rest} more" if rest > 0 else shown


def _read(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # torch raises many types for a bad or unsafe file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"cannot read {path} as a weights-only torch checkpoint "
            f"(a file that needs arbitrary pickled objects is refused): {reason}"
        ) from exc


def extract_state_dict(loaded: object, source: str = "checkpoint") -> dict[str, Tensor]:
    """The generator's state dict from a loaded reference checkpoint or bare state dict.

    Removes every ``module.`` substring from the keys; ignores ``optimizer``,
    ``global_step`` and ``global_epoch``. Raises :class:`CheckpointError` when the
    object is not a dict of tensors.
    """
    if not isinstance(loaded, Mapping):
        raise CheckpointError(
            f"{source} holds a {type(loaded).__name__}, expected a dict with a 'state_dict'"
        )
    raw: object = loaded.get("state_dict", loaded)
    if not isinstance(raw, Mapping):
        raise CheckpointError(
            f"{source}: 'state_dict' is a {type(raw).__name__}, expected a dict of tensors"
        )
    state: dict[str, Tensor] = {}
    not_tensors: list[str] = []
    for key, value in raw.items():
        name = str(key).replace("module.", "")
        if isinstance(value, Tensor):
            state[name] = value
        else:
            not_tensors.append(str(key))
    if not_tensors:
        raise CheckpointError(
            f"{source} is not a Wav2Lip generator: entries that are not tensors: "
            f"{_some(not_tensors)}"
        )
    return state


def check_state_dict(state: Mapping[str, Tensor], model: Wav2Lip, source: str) -> None:
    """Raise :class:`CheckpointError` naming missing/unexpected keys and shape mismatches."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {list(state[k].shape)} (expected {list(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if not (missing or unexpected or mismatched):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys: {_some(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys: {_some(unexpected)}")
    if mismatched:
        parts.append(f"{len(mismatched)} shape mismatches: {_some(mismatched)}")
    raise CheckpointError(f"{source} is not a Wav2Lip generator: " + "; ".join(parts))


def load_generator(
    path: StrPath,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Wav2Lip:
    """A :class:`Wav2Lip` with the weights in ``path``, on ``device``, in eval mode.

    ``path`` is a reference checkpoint (``state_dict`` inside, ``module.`` prefixes
    allowed, optimizer state ignored) or a bare state dict. ``device`` is ``"auto"``
    (cuda if available), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a :class:`torch.device`.
    ``dtype`` converts floating-point weights (float16 is meant for CUDA).
    """
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
    path = Path(path)
    state = extract_state_dict(_read(path), str(path))
    model = Wav2Lip()
    check_state_dict(state, model, str(path))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # e.g. a non-numeric dtype in a matching tensor
        raise CheckpointError(f"{path} does not load into Wav2Lip: {exc}") from exc
    return model.to(device=resolve_device(device), dtype=dtype).eval()


def save_reference_checkpoint(
    model: Wav2Lip,
    path: StrPath,
    *,
    module_prefix: bool = False,
    with_optimizer: bool = False,
    global_step: int = 0,
    global_epoch: int = 0,
) -> None:
    """Write ``model`` in the reference training scripts' layout (for tests and tools).

    ``module_prefix`` adds ``module.`` to every key, as ``DataParallel`` training does.
    ``with_optimizer`` stores an Adam state dict with zero moments (two tensors per
    parameter, like the public files); otherwise ``optimizer`` is None.
    """
    prefix = "module." if module_prefix else ""
    state = {prefix + k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    optimizer_state: dict[str, Any] | None = None
    if with_optimizer:
        params = list(model.parameters())
        optimizer = torch.optim.Adam(params, lr=1e-4)
        for p in params:
            optimizer.state[p] = {
                "step": torch.tensor(1.0),
                "exp_avg": torch.zeros_like(p, device="cpu"),
                "exp_avg_sq": torch.zeros_like(p, device="cpu"),
            }
        optimizer_state = optimizer.state_dict()
    checkpoint = {
        "state_dict": state,
        "optimizer": optimizer_state,
        "global_step": global_step,
        "global_epoch": global_epoch,
    }
    torch.save(checkpoint, Path(path))
