"""wav2lip_fast: a Wav2Lip lip-sync generator that loads the public checkpoints.

Plain PyTorch and numpy, no asyncio. Our own code, written from the published facts
about the checkpoint layout and the audio features (the reference code is licensed for
non-commercial research only and is not used here).

Names are imported on first use (PEP 562), so the torch-free parts (audio features,
avatar preparation, paste-back) start without importing torch; ``from wav2lip_fast
import Wav2Lip`` imports it then.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wav2lip_fast.audio import (
        MEL,
        SAMPLE_RATE,
        MelConfig,
        frame_count,
        load_audio,
        mel_chunks,
        melspectrogram,
    )
    from wav2lip_fast.checkpoint import (
        CheckpointError,
        load_generator,
        resolve_device,
        save_reference_checkpoint,
    )
    from wav2lip_fast.engine import EngineStats, LipSyncEngine
    from wav2lip_fast.faces import (
        FaceDetectionError,
        FaceDetector,
        FaceTrack,
        HaarFaceDetector,
        detect_boxes,
    )
    from wav2lip_fast.fast import (
        FaceSkips,
        FastGenerator,
        FoldedWav2Lip,
        configure_cpu_threads,
        fold_batchnorm,
        make_face_input,
    )
    from wav2lip_fast.model import Wav2Lip
    from wav2lip_fast.paste import Paster
    from wav2lip_fast.prepare import (
        AvatarFaces,
        AvatarPrepareError,
        PreparedAvatar,
        prepare_avatar,
    )
    from wav2lip_fast.shapes import FACE_SIZE, MEL_STEPS, N_MELS

_LAZY: dict[str, str] = {
    "AvatarFaces": "wav2lip_fast.prepare",
    "AvatarPrepareError": "wav2lip_fast.prepare",
    "CheckpointError": "wav2lip_fast.checkpoint",
    "EngineStats": "wav2lip_fast.engine",
    "FACE_SIZE": "wav2lip_fast.shapes",
    "FaceDetectionError": "wav2lip_fast.faces",
    "FaceDetector": "wav2lip_fast.faces",
    "FaceSkips": "wav2lip_fast.fast",
    "FaceTrack": "wav2lip_fast.faces",
    "FastGenerator": "wav2lip_fast.fast",
    "FoldedWav2Lip": "wav2lip_fast.fast",
    "HaarFaceDetector": "wav2lip_fast.faces",
    "LipSyncEngine": "wav2lip_fast.engine",
    "MEL": "wav2lip_fast.audio",
    "MEL_STEPS": "wav2lip_fast.shapes",
    "MelConfig": "wav2lip_fast.audio",
    "N_MELS": "wav2lip_fast.shapes",
    "Paster": "wav2lip_fast.paste",
    "PreparedAvatar": "wav2lip_fast.prepare",
    "SAMPLE_RATE": "wav2lip_fast.audio",
    "Wav2Lip": "wav2lip_fast.model",
    "configure_cpu_threads": "wav2lip_fast.fast",
    "detect_boxes": "wav2lip_fast.faces",
    "fold_batchnorm": "wav2lip_fast.fast",
    "frame_count": "wav2lip_fast.audio",
    "load_audio": "wav2lip_fast.audio",
    "load_generator": "wav2lip_fast.checkpoint",
    "make_face_input": "wav2lip_fast.fast",
    "mel_chunks": "wav2lip_fast.audio",
    "melspectrogram": "wav2lip_fast.audio",
    "prepare_avatar": "wav2lip_fast.prepare",
    "resolve_device": "wav2lip_fast.checkpoint",
    "save_reference_checkpoint": "wav2lip_fast.checkpoint",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "FACE_SIZE",
    "MEL",
    "MEL_STEPS",
    "N_MELS",
    "SAMPLE_RATE",
    "AvatarFaces",
    "AvatarPrepareError",
    "CheckpointError",
    "EngineStats",
    "FaceDetectionError",
    "FaceDetector",
    "FaceSkips",
    "FaceTrack",
    "FastGenerator",
    "FoldedWav2Lip",
    "HaarFaceDetector",
    "LipSyncEngine",
    "MelConfig",
    "Paster",
    "PreparedAvatar",
    "Wav2Lip",
    "configure_cpu_threads",
    "detect_boxes",
    "fold_batchnorm",
    "frame_count",
    "load_audio",
    "load_generator",
    "make_face_input",
    "mel_chunks",
    "melspectrogram",
    "prepare_avatar",
    "resolve_device",
    "save_reference_checkpoint",
]
