"""wav2lip_fast: a Wav2Lip lip-sync generator that loads the public checkpoints.

Plain PyTorch and numpy, no asyncio. Our own code, written from the published facts
about the checkpoint layout and the audio features (the reference code is licensed for
non-commercial research only and is not used here).
"""

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
from wav2lip_fast.engine import AvatarFaces, EngineStats, LipSyncEngine
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
from wav2lip_fast.model import FACE_SIZE, MEL_STEPS, N_MELS, Wav2Lip
from wav2lip_fast.paste import Paster
from wav2lip_fast.prepare import AvatarPrepareError, PreparedAvatar, prepare_avatar

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
