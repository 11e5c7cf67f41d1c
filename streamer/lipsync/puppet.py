"""The puppet engine: moves the avatar's mouth from the sound of the speech, no model.

Per video frame it looks at the audio around that frame (one vectorised numpy pass
for all frames: overlapping windows by stride tricks, a Hann window, one rfft):

* **loudness**: RMS in dBFS, gated at ``GATE_DB`` (silence keeps the mouth shut) and
  scaled so the loud parts of the clip (its 90th percentile, clamped to
  ``[REF_MIN_DB, REF_MAX_DB]``) open it fully;
* **voicing**: the share of the energy in the vowel formant band (300-3000 Hz).
  Open vowels put most of their energy there and open the mouth wide; fricatives
  ("s", "f", "sh": energy above 4 kHz) and nasal murmurs / closed lips ("m", "b",
  "p": energy below 300 Hz) leave the mouth nearly shut;
* **roundness**: a low spectral centroid inside the formant band ("oo", "o") narrows
  the mouth by up to a quarter.

Openness = loudness x (0.1 + 0.9 x voicing), then exponential smoothing with a faster
attack than release (``smoothing`` is the release coefficient, its square the
attack's). A frame whose openness is below ``DRAW_MIN`` is the avatar's frame as it
is, closed mouth included. Otherwise, inside the mouth box only, the avatar's closed
mouth is softly painted over with the skin colour around the box, and an open mouth
is drawn anti-aliased: lips in the colour of the avatar's own lips (the pixels of the
box that differ most from the skin), a dark inner mouth, upper teeth and a tongue.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from streamer.audio import Audio
from streamer.avatar import Avatar, Box
from streamer.config import LipSyncSettings
from streamer.lipsync.base import FIRST_BATCH, LipSyncError, frame_count

log = logging.getLogger(__name__)

GATE_DB = -45.0  # below this RMS (dBFS) a frame is silence: mouth shut
REF_MIN_DB = -30.0  # a quiet voice still opens the mouth fully at this level...
REF_MAX_DB = -12.0  # ...and a loud one needs at least this
DRAW_MIN = 0.04  # below this openness nothing is drawn
FORMANT_BAND = (300.0, 3000.0)
ANALYSIS_MIN_HZ = 60.0  # energy below (hum, DC) is ignored

# Colours (BGR) of the inside of the mouth.
INNER = np.array([45, 35, 75], np.float32)
TEETH = (235, 240, 245)
TONGUE = (110, 105, 205)
SHIFT = 4  # sub-pixel drawing: coordinates in 1/16 px
ONE = 1 << SHIFT


@dataclass(frozen=True, slots=True)
class MouthTrack:
    """Per-frame mouth shape: ``openness`` in [0, 1], ``roundness`` in [0, 1]."""

    openness: np.ndarray
    roundness: np.ndarray


def analyse(audio: Audio, fps: int, smoothing: float) -> MouthTrack:
    """Mouth openness and roundness for each of the ``frame_count(audio, fps)`` frames."""
    n = frame_count(audio, fps)
    if n == 0:
        empty = np.zeros(0, np.float32)
        return MouthTrack(empty, empty)
    rate = audio.rate
    hop = rate / fps
    win = max(64, 1 << math.ceil(math.log2(max(2.0, 1.5 * hop))))
    x = audio.samples.astype(np.float32, copy=False)
    padded = np.pad(x, (win, win))
    centres = np.round((np.arange(n) + 0.5) * hop).astype(np.int64)
    starts = centres - win // 2 + win
    frames = sliding_window_view(padded, win)[starts]  # (n, win) copy
    window = np.hanning(win).astype(np.float32)
    frames = frames * window

    rms = np.sqrt(np.mean(frames * frames, axis=1) / np.mean(window * window))
    db = 20.0 * np.log10(rms + 1e-9)

    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (n, win // 2 + 1)
    freqs = np.fft.rfftfreq(win, 1.0 / rate)
    lo, hi = FORMANT_BAND
    in_formant = (freqs >= lo) & (freqs < min(hi, rate / 2))
    in_total = freqs >= ANALYSIS_MIN_HZ
    e_formant = power[:, in_formant].sum(axis=1)
    e_total = power[:, in_total].sum(axis=1) + 1e-20
    voicing = np.clip((e_formant / e_total - 0.25) / 0.5, 0.0, 1.0)
    centroid = (power[:, in_formant] * freqs[in_formant]).sum(axis=1) / (e_formant + 1e-20)
    roundness = np.clip((1100.0 - centroid) / 500.0, 0.0, 1.0)

    voiced = db[db > GATE_DB]
    ref = float(np.percentile(voiced, 90)) if len(voiced) else REF_MAX_DB
    ref = min(max(ref, REF_MIN_DB), REF_MAX_DB)
    loud = np.clip((db - GATE_DB) / (ref - GATE_DB), 0.0, 1.0)
    target = loud * (0.1 + 0.9 * voicing)
    target[db <= GATE_DB] = 0.0

    release = float(smoothing)
    attack = release * release
    opened = np.empty(n, np.float32)
    rounded = np.empty(n, np.float32)
    o = 0.0
    r = float(roundness[0])
    for i in range(n):
        t = float(target[i])
        a = attack if t > o else release
        o = a * o + (1.0 - a) * t
        r = release * r + (1.0 - release) * float(roundness[i])
        opened[i] = o
        rounded[i] = r
    return MouthTrack(opened, rounded)


def _ellipse(
    img: np.ndarray,
    centre: tuple[float, float],
    axes: tuple[float, float],
    colour: tuple[float, ...],
) -> None:
    """A filled anti-aliased ellipse with sub-pixel centre and axes."""
    cv2.ellipse(
        img,
        (round(centre[0] * ONE), round(centre[1] * ONE)),
        (max(0, round(axes[0] * ONE)), max(0, round(axes[1] * ONE))),
        0,
        0,
        360,
        colour,
        -1,
        cv2.LINE_AA,
        SHIFT,
    )


class PuppetEngine:
    """Animates the mouth inside the avatar's mouth box from the speech."""

    name = "puppet"

    def __init__(self, settings: LipSyncSettings) -> None:
        self.settings = settings
        self._avatar: Avatar | None = None
        self._box: Box | None = None
        self._erase: np.ndarray | None = None  # (h, w, 1) float32 feathered mask
        self._lip = np.zeros(3, np.float32)

    def load(self, avatar: Avatar) -> None:
        self._avatar = avatar
        box = avatar.mouth_box
        if self.settings.mouth_box is not None:
            x, y, w, h = self.settings.mouth_box
            x1, y1 = min(avatar.width, x + w), min(avatar.height, y + h)
            box = (x, y, x1 - x, y1 - y) if x1 - x >= 2 and y1 - y >= 2 else None
        self._box = box
        if box is None:
            log.warning(
                "puppet lip-sync: avatar %s has no mouth box, so the mouth will not move; "
                "set lipsync.mouth_box: [x, y, width, height] (output pixels) or add %s",
                avatar.source.name,
                avatar.source.with_suffix(".json").name,
            )
            return
        _, _, w, h = box
        mask = np.zeros((h, w), np.float32)
        _ellipse(mask, (w / 2, h * 0.45), (w * 0.45, h * 0.38), (1.0,))
        sigma = max(1.0, min(w, h) * 0.06)
        self._erase = cv2.GaussianBlur(mask, (0, 0), sigma)[:, :, None]
        self._lip = self._lip_colour(avatar.frame(0))

    def _region(self, frame: np.ndarray) -> np.ndarray:
        assert self._box is not None
        x, y, w, h = self._box
        return frame[y : y + h, x : x + w]

    def _skin(self, roi: np.ndarray) -> np.ndarray:
        """The median colour of the mouth box's border: the skin around the mouth."""
        ring = np.concatenate((roi[0], roi[-1], roi[1:-1, 0], roi[1:-1, -1]))
        return np.median(ring, axis=0).astype(np.float32)  # type: ignore[no-any-return]

    def _lip_colour(self, frame: np.ndarray) -> np.ndarray:
        """The avatar's own lip colour: box pixels far from the skin; else a darker skin."""
        roi = self._region(frame).reshape(-1, 3).astype(np.float32)
        skin = self._skin(self._region(frame))
        dist = np.abs(roi - skin).sum(axis=1)
        far = roi[dist > max(60.0, float(np.percentile(dist, 90)))]
        if len(far) >= 8:
            return np.median(far, axis=0).astype(np.float32)  # type: ignore[no-any-return]
        return (skin * np.array([0.6, 0.55, 0.85], np.float32)).astype(np.float32)

    def render(self, audio: Audio, start_frame: int, fps: int) -> Iterator[np.ndarray]:
        avatar = self._avatar
        if avatar is None:
            raise LipSyncError("PuppetEngine.render called before load(avatar)")
        if fps != avatar.fps:
            raise LipSyncError(f"render at {fps} fps, but the avatar was loaded at {avatar.fps}")
        if start_frame < 0:
            raise LipSyncError(f"start_frame must be >= 0, got {start_frame}")
        track = analyse(audio, fps, self.settings.smoothing)
        n = len(track.openness)
        done = 0
        # Batches grow gradually (4, 8, 16, ... then one second): each one must render
        # while the previous one plays, so the second must not be a whole second.
        size = min(FIRST_BATCH, 4)
        while done < n:
            k = min(size, n - done)
            out = np.empty((k, avatar.height, avatar.width, 3), np.uint8)
            for j in range(k):
                i = done + j
                out[j] = avatar.frame(start_frame + i)
                o = float(track.openness[i])
                if self._box is not None and o >= DRAW_MIN:
                    self._draw(out[j], o, float(track.roundness[i]))
            done += k
            size = max(1, min(2 * size, fps))
            yield out

    def _draw(self, frame: np.ndarray, openness: float, roundness: float) -> None:
        """Draw an open mouth in the mouth box of ``frame`` (in place, box only)."""
        assert self._box is not None and self._erase is not None
        x, y, w, h = self._box
        view = frame[y : y + h, x : x + w]
        roi = view.astype(np.float32)
        skin = self._skin(view)

        # 1. Paint the closed mouth over, softly, as the mouth starts to open.
        fade = min(1.0, openness / 0.25)
        roi += (skin - roi) * (self._erase * fade)

        # 2. Geometry: the opening drops from near the top of the box (the jaw moves).
        lip = max(1.5, h * 0.07)
        inner_h = min(openness * self.settings.open_scale * h, h - 2 * lip - 2)
        top = min(h * 0.3, h - lip - 1 - inner_h)
        top = max(top, lip + 1)
        cx, cy = w / 2, top + inner_h / 2
        spread = 0.75 + 0.25 * min(1.0, openness * 1.5)
        half_w = max(1.0, (w / 2 - lip - 1) * spread * (1.0 - 0.25 * roundness))
        half_h = max(0.5, inner_h / 2)

        # 3. Lips: a ring in the avatar's lip colour around the opening.
        outer = np.zeros((h, w), np.uint8)
        _ellipse(outer, (cx, cy), (half_w + lip * 0.7, half_h + lip), (255,))
        a_out = outer[:, :, None].astype(np.float32) * (fade / 255.0)
        roi += (self._lip - roi) * a_out

        # 4. Inside: dark mouth, upper teeth, tongue; clipped to the inner ellipse.
        inner = np.zeros((h, w), np.uint8)
        _ellipse(inner, (cx, cy), (half_w, half_h), (255,))
        content = np.empty((h, w, 3), np.uint8)
        content[:] = INNER.astype(np.uint8)
        if half_h > 2.5:
            _ellipse(content, (cx, cy - half_h * 0.95), (half_w * 0.78, half_h * 0.4), TEETH)
            _ellipse(content, (cx, cy + half_h * 0.95), (half_w * 0.6, half_h * 0.45), TONGUE)
        a_in = inner[:, :, None].astype(np.float32) * (1.0 / 255.0)
        roi += (content.astype(np.float32) - roi) * a_in

        np.copyto(view, np.clip(roi + 0.5, 0, 255).astype(np.uint8))
