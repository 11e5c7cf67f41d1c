"""The generator's input and output sizes, importable without torch.

Kept apart from :mod:`wav2lip_fast.model` so that the torch-free parts (audio
features, avatar preparation, paste-back) start without importing torch.
"""

FACE_SIZE = 96  # face crops are FACE_SIZE x FACE_SIZE pixels
FACE_CHANNELS = 6  # [lower-half-masked B,G,R, full reference B,G,R]
N_MELS = 80  # mel bins (height of the audio input)
MEL_STEPS = 16  # mel columns per video frame (200 ms at 80 columns/s)

__all__ = ["FACE_CHANNELS", "FACE_SIZE", "MEL_STEPS", "N_MELS"]
