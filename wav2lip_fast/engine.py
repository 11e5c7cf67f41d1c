"""The streaming lip-sync engine: speech in, full avatar frames out, batch by batch.

:class:`LipSyncEngine` holds one generator for its whole life and one avatar at a
time (:meth:`LipSyncEngine.set_avatar`). :meth:`LipSyncEngine.render` turns 16 kHz
speech into exactly ``ceil(duration * fps)`` frames and yields them in batches that
start small (the first frames can go on air while the rest is generated) and grow to
``batch_size``:

1. mel spectrogram of the whole clip, one 16-column window per frame
   (:func:`wav2lip_fast.mel_chunks`, the tail padded with silence);
2. windows of silence (every mel value at most ``SILENCE_LEVEL``, i.e. no sound above
   about -80 dBFS in the 200 ms the window covers) are not generated: the avatar's
   own frame is shown, as the idle loop shows it (``skip_silence``);
3. the other windows go through the generator with the face encoder's activations
   cached per avatar frame (:class:`wav2lip_fast.FastGenerator`), giving 96x96 faces,
   times 255 truncated to uint8 as the reference does; with the soft paste only the
   rows it uses are decoded (:func:`wav2lip_fast.fast.decode_lower`, exact there,
   about 35 % less arithmetic);
4. each face is pasted into its frame (:class:`wav2lip_fast.paste.Paster`, soft mask
   by default, the reference's hard paste as an option).

On the CPU the generator's convolutions already run near the machine's peak float32
rate (~80 GFLOP/s on 2 AVX2 cores), and int8 (no VNNI there), ONNX Runtime and
torch.compile gave 0-18 %, so doing less arithmetic is the only large gain. The exact
mode does it twice without changing the result: the lower-half decode above, and the
wide 3x3 convolutions computed with Winograd F(4x4, 3x3)
(:mod:`wav2lip_fast.winograd`, a quarter of their multiplications; ~1.3x in all).

``fast`` mode generates only every ``fast_stride``-th speaking frame (by position in
the clip; also the first and last frame of each run of speech in a batch) and blends
the frames between from the two generated faces around them (linear in time, in the
96x96 face space). The benchmark reports its PSNR against exact.

Frames stay in memory from start to end: no temporary files, no intermediate encode.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from wav2lip_fast.audio import SAMPLE_RATE, frame_count, mel_chunks, melspectrogram
from wav2lip_fast.checkpoint import load_generator, resolve_device
from wav2lip_fast.fast import FaceSkips, FastGenerator
from wav2lip_fast.model import Wav2Lip
from wav2lip_fast.paste import PASTE_MODES, PasteMode, Paster, faces_to_uint8
from wav2lip_fast.prepare import AvatarFaces

log = logging.getLogger(__name__)

Mode = Literal["exact", "fast"]
MODES: tuple[Mode, ...] = ("exact", "fast")

# A mel window whose loudest value is at most this is silence (white noise at -80 dBFS
# RMS gives about -3.36; digital silence -4, the floor).
SILENCE_LEVEL = -3.5
FIRST_BATCH = 4
# Face encoder activations kept per avatar (1.1 MiB per frame in float32): beyond this
# the encoder runs with each batch instead.
FACE_CACHE_BYTES = 1 << 30
_SKIPS_PER_FRAME_VALUES = 290_816


def default_batch_size(device: torch.device) -> int:
    """Frames per generator call: 32 on the CPU (no gain beyond), 64 on a GPU."""
    return 64 if device.type == "cuda" else 32


def batch_schedule(n_frames: int, first: int, largest: int) -> list[int]:
    """Batch sizes covering ``n_frames``: ``first``, then doubling up to ``largest``."""
    if first < 1 or largest < 1:
        raise ValueError(f"batch sizes must be >= 1, got {first}, {largest}")
    sizes: list[int] = []
    size = min(first, largest)
    left = n_frames
    while left > 0:
        take = min(size, left)
        sizes.append(take)
        left -= take
        size = min(size * 2, largest)
    return sizes


@dataclass(slots=True)
class EngineStats:
    """Counters since the engine was made."""

    frames: int = 0  # frames rendered
    generated: int = 0  # frames that went through the generator
    interpolated: int = 0  # fast mode: frames drawn between two generated neighbours
    silent: int = 0  # frames of silence shown as the avatar's own frame
    generate_s: float = 0.0  # seconds in the generator
    paste_s: float = 0.0  # seconds pasting faces into frames


@dataclass(slots=True)
class _Avatar:
    faces: AvatarFaces
    skips: FaceSkips | None  # None: encode faces per batch (cache over budget)
    crops_nchw: np.ndarray = field(repr=False)


def _run_edges(loud: np.ndarray) -> np.ndarray:
    """True at the first and last frame of every run of True in ``loud``."""
    padded = np.concatenate(([False], loud, [False]))
    starts = padded[1:-1] & ~padded[:-2]
    ends = padded[1:-1] & ~padded[2:]
    out: np.ndarray = starts | ends
    return out


class LipSyncEngine:
    """Wav2Lip lip-sync for one avatar at a time; see the module doc.

    ``device``: ``auto`` (cuda if available), ``cpu``, ``cuda``; float16 on CUDA,
    float32 on the CPU. ``mode``: ``exact`` (the model's own output for every frame)
    or ``fast`` (one speaking frame in ``fast_stride`` generated: see the module doc).
    ``paste``: ``soft`` or ``hard``. ``batch_size``: frames per generator call (default
    by device).
    """

    def __init__(
        self,
        generator: Wav2Lip,
        *,
        device: str | torch.device = "auto",
        mode: Mode = "exact",
        paste: PasteMode = "soft",
        batch_size: int | None = None,
        skip_silence: bool = True,
        face_cache_bytes: int = FACE_CACHE_BYTES,
        fast_stride: int = 3,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if paste not in PASTE_MODES:
            raise ValueError(f"paste must be one of {PASTE_MODES}, got {paste!r}")
        self.device = resolve_device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device is cuda but CUDA is not available here; use auto or cpu")
        self.batch_size = default_batch_size(self.device) if batch_size is None else batch_size
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.mode: Mode = mode
        if fast_stride < 2:
            raise ValueError(f"fast_stride must be >= 2, got {fast_stride}")
        self.fast_stride = fast_stride
        self.skip_silence = skip_silence
        self.face_cache_bytes = face_cache_bytes
        self.generator = FastGenerator(generator, device=self.device)
        self.paster = Paster(paste)
        self.stats = EngineStats()
        self._avatar: _Avatar | None = None

    @classmethod
    def from_checkpoint(cls, path: str | Path, **options: object) -> LipSyncEngine:
        """Load a generator checkpoint (:func:`load_generator`) and build the engine."""
        generator = load_generator(path, device="cpu")
        return cls(generator, **options)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ avatar

    def set_avatar(self, faces: AvatarFaces, *, cache_faces: bool = True) -> None:
        """Use ``faces`` from now on; runs the face encoder over every frame once.

        ``cache_faces=False`` (or an avatar over ``face_cache_bytes``) skips that: the
        encoder runs on each batch's frames as they are generated instead, which costs
        nothing extra when every avatar frame is shown about once (a one-shot clip no
        longer than its face video) and skips the frames that are silent or, in fast
        mode, interpolated.
        """
        crops = np.ascontiguousarray(faces.crops.transpose(0, 3, 1, 2))
        per_frame = _SKIPS_PER_FRAME_VALUES * self.generator.dtype.itemsize
        skips: FaceSkips | None = None
        if not cache_faces:
            log.info("face encoder runs per batch (%d avatar frames)", len(faces))
        elif len(faces) * per_frame <= self.face_cache_bytes:
            started = time.perf_counter()
            skips = self.generator.prepare_faces(crops, batch_size=self.batch_size)
            log.info(
                "face encoder cached for %d avatar frame(s): %.0f MiB in %.2f s",
                len(faces),
                skips.nbytes() / 2**20,
                time.perf_counter() - started,
            )
        else:
            log.info(
                "avatar has %d frames: over the %d MiB face cache, encoding faces per batch",
                len(faces),
                self.face_cache_bytes // 2**20,
            )
        self._avatar = _Avatar(faces=faces, skips=skips, crops_nchw=crops)

    @property
    def avatar(self) -> AvatarFaces:
        if self._avatar is None:
            raise RuntimeError("no avatar: call set_avatar() first")
        return self._avatar.faces

    # ------------------------------------------------------------------ render

    def render(
        self,
        audio: np.ndarray,
        fps: float,
        frame_indices: Sequence[int] | np.ndarray | None = None,
        *,
        backgrounds: Callable[[int], np.ndarray] | None = None,
        first_batch: int = FIRST_BATCH,
        n_frames: int | None = None,
    ) -> Iterator[np.ndarray]:
        """Yield (k, H, W, 3) uint8 frame batches for ``audio`` (float32, 16 kHz, mono).

        ``frame_indices[i]`` is the avatar frame that output frame ``i`` is drawn from
        (default: the avatar played forwards and looped, as the reference does).
        ``backgrounds(i)``, when given, is the full frame pasted into for output frame
        ``i`` instead of ``avatar.frames[frame_indices[i]]`` (the daemon's still avatar
        blinks this way). The batches hold ``ceil(duration * fps)`` frames in all, or
        ``n_frames`` when given (a caller that counted frames at another sample rate).
        """
        state = self._avatar
        if state is None:
            raise RuntimeError("no avatar: call set_avatar() first")
        wav = np.asarray(audio)
        if wav.ndim != 1 or not np.issubdtype(wav.dtype, np.floating):
            raise ValueError(
                f"audio must be 1-D float samples at 16 kHz, got {wav.shape} {wav.dtype}"
            )
        n = frame_count(len(wav), fps, SAMPLE_RATE) if n_frames is None else n_frames
        if n < 0:
            raise ValueError(f"n_frames must be >= 0, got {n}")
        if n == 0:
            return
        avatar = state.faces
        if frame_indices is None:
            idx = np.arange(n, dtype=np.int64) % len(avatar)
        else:
            idx = np.asarray(frame_indices, dtype=np.int64)
            if idx.shape != (n,):
                raise ValueError(f"{n} frames to render but {idx.shape} frame indices given")
            if (idx < 0).any() or (idx >= len(avatar)).any():
                raise ValueError(f"frame indices must be in [0, {len(avatar)})")
        if len(wav) < 2:  # the STFT needs two samples; silence it is
            wav = np.zeros(2, np.float32)
        mel = melspectrogram(wav.astype(np.float32, copy=False))
        chunks = mel_chunks(mel, fps, n)
        if self.skip_silence:
            loud = chunks.reshape(n, -1).max(axis=1) > SILENCE_LEVEL
        else:
            loud = np.ones(n, bool)

        start = 0
        for size in batch_schedule(n, first_batch, self.batch_size):
            stop = start + size
            yield self._batch(
                state, chunks[start:stop], idx[start:stop], loud[start:stop], start, backgrounds
            )
            start = stop

    def _batch(
        self,
        state: _Avatar,
        chunks: np.ndarray,
        idx: np.ndarray,
        loud: np.ndarray,
        offset: int,
        backgrounds: Callable[[int], np.ndarray] | None,
    ) -> np.ndarray:
        avatar = state.faces
        k = len(idx)
        speak = np.flatnonzero(loud)
        key = loud.copy()
        if self.mode == "fast":
            # Every fast_stride-th speaking frame (by position in the clip) is generated,
            # and so are the first and last frames of each run of speech in this batch;
            # the frames between are blended from the two generated frames around them.
            key &= ((np.arange(k) + offset) % self.fast_stride == 0) | _run_edges(loud)
        generate = np.flatnonzero(key)
        faces: dict[int, np.ndarray] = {}
        if generate.size:
            t0 = time.perf_counter()
            made = self._generate(state, chunks[generate], idx[generate])
            self.stats.generate_s += time.perf_counter() - t0
            faces = {int(j): made[n] for n, j in enumerate(generate.tolist())}
        if self.mode == "fast":
            for j in np.flatnonzero(loud & ~key).tolist():
                left = int(generate[np.searchsorted(generate, j) - 1])
                right = int(generate[np.searchsorted(generate, j)])
                w = (j - left) / (right - left)
                mixed = faces[left] * np.float32(1 - w) + faces[right] * np.float32(w)
                faces[j] = np.rint(mixed).astype(np.uint8)
        t0 = time.perf_counter()
        height, width = avatar.frames.shape[1:3]
        out = np.empty((k, height, width, 3), np.uint8)
        for j in range(k):
            frame = avatar.frames[idx[j]] if backgrounds is None else backgrounds(offset + j)
            face = faces.get(j)
            if face is None:
                out[j] = frame
            else:
                self.paster.paste(frame, face, avatar.boxes[idx[j]], out=out[j])
        self.stats.paste_s += time.perf_counter() - t0
        self.stats.frames += k
        self.stats.generated += int(generate.size)
        self.stats.interpolated += int(speak.size - generate.size)
        self.stats.silent += k - int(speak.size)
        return out

    def _generate(self, state: _Avatar, chunks: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """(B, 80, 16) mel windows over avatar frames ``idx`` -> (B, 96, 96, 3) uint8."""
        mel = np.ascontiguousarray(chunks[:, None])
        if state.skips is not None:
            skips = state.skips.select(torch.from_numpy(idx))
        else:
            skips = self.generator.prepare_faces(state.crops_nchw[idx], batch_size=len(idx))
        # The soft paste uses only the lower face: decode only its rows (exact there).
        out = self.generator.generate(mel, skips, lower_only=self.paster.mode == "soft")
        return faces_to_uint8(out.float().cpu().numpy())


__all__ = [
    "FACE_CACHE_BYTES",
    "FIRST_BATCH",
    "MODES",
    "SILENCE_LEVEL",
    "AvatarFaces",
    "EngineStats",
    "LipSyncEngine",
    "Mode",
    "batch_schedule",
    "default_batch_size",
]
