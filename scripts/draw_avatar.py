"""Draw the default avatar: a friendly cartoon face, made only with OpenCV and numpy.

Writes ``media/avatar.png`` (1280x720) and ``media/avatar.json`` with the mouth box
(``{"mouth_box": [x, y, w, h]}`` in the image's pixels) that the puppet lip-sync
engine animates. The drawing is this project's own work, released under its MIT
licence. Run from anywhere: ``python scripts/draw_avatar.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

W, H = 1280, 720
AA = cv2.LINE_AA

# BGR colours, flat so the PNG compresses well.
BG_TOP = (200, 170, 120)  # soft blue
BG_BOTTOM = (170, 135, 85)
STRIPE = (215, 190, 150)
SKIN = (170, 200, 245)
SKIN_SHADE = (145, 175, 225)
HAIR = (40, 55, 120)  # warm brown
HAIR_LIGHT = (60, 80, 150)
SHIRT = (120, 90, 200)  # rose
SHIRT_DARK = (100, 70, 170)
EYE_WHITE = (250, 250, 250)
IRIS = (130, 90, 40)
PUPIL = (30, 25, 20)
OUTLINE = (50, 55, 80)
BLUSH = (150, 160, 245)
LIP = (95, 95, 190)

CX = W // 2  # face centre x
FACE_CY = 350  # face centre y
FACE_AX, FACE_AY = 170, 205  # face half-axes

# The mouth: a gentle closed smile centred here, inside MOUTH_BOX.
MOUTH_CX, MOUTH_CY = CX, 462
MOUTH_BOX = (CX - 64, 428, 128, 80)


def background(img: np.ndarray) -> None:
    """Two flat bands and a few soft stripes: a simple studio wall."""
    img[: H // 2 + 120] = BG_TOP
    img[H // 2 + 120 :] = BG_BOTTOM
    for x in range(80, W, 260):
        cv2.rectangle(img, (x, 60), (x + 90, H // 2 + 80), STRIPE, -1, AA)
    cv2.line(img, (0, H // 2 + 120), (W, H // 2 + 120), STRIPE, 4, AA)


def body(img: np.ndarray) -> None:
    # Neck, then shoulders as a wide ellipse cut by the bottom edge.
    cv2.rectangle(img, (CX - 55, FACE_CY + 150), (CX + 55, FACE_CY + 260), SKIN_SHADE, -1, AA)
    cv2.ellipse(img, (CX, H + 60), (330, 190), 0, 180, 360, SHIRT, -1, AA)
    cv2.ellipse(img, (CX, H + 60), (330, 190), 0, 180, 360, OUTLINE, 3, AA)
    # Collar: a V neckline.
    pts = np.array([[CX - 70, 590], [CX, 660], [CX + 70, 590]], np.int32)
    cv2.fillPoly(img, [pts], SKIN_SHADE, AA)
    cv2.polylines(img, [pts], False, SHIRT_DARK, 6, AA)


def hair_back(img: np.ndarray) -> None:
    # Hair behind the head, falling to the shoulders.
    cv2.ellipse(img, (CX, FACE_CY - 10), (FACE_AX + 45, FACE_AY + 40), 0, 180, 360, HAIR, -1, AA)
    cv2.rectangle(img, (CX - FACE_AX - 45, FACE_CY - 10), (CX - FACE_AX + 5, 560), HAIR, -1, AA)
    cv2.rectangle(img, (CX + FACE_AX - 5, FACE_CY - 10), (CX + FACE_AX + 45, 560), HAIR, -1, AA)
    cv2.ellipse(img, (CX - FACE_AX - 20, 560), (25, 20), 0, 0, 180, HAIR, -1, AA)
    cv2.ellipse(img, (CX + FACE_AX + 20, 560), (25, 20), 0, 0, 180, HAIR, -1, AA)


def head(img: np.ndarray) -> None:
    # Ears, then the face.
    for side in (-1, 1):
        ear = (CX + side * (FACE_AX - 5), FACE_CY + 20)
        cv2.ellipse(img, ear, (28, 42), 0, 0, 360, SKIN, -1, AA)
        cv2.ellipse(img, ear, (28, 42), 0, 0, 360, OUTLINE, 3, AA)
    cv2.ellipse(img, (CX, FACE_CY), (FACE_AX, FACE_AY), 0, 0, 360, SKIN, -1, AA)
    cv2.ellipse(img, (CX, FACE_CY), (FACE_AX, FACE_AY), 0, 0, 360, OUTLINE, 3, AA)


def hair_front(img: np.ndarray) -> None:
    # Fringe: a cap over the forehead plus a few rounded locks.
    cv2.ellipse(img, (CX, FACE_CY - 95), (FACE_AX + 10, 120), 0, 180, 360, HAIR, -1, AA)
    for dx, w, h in ((-120, 70, 55), (-45, 75, 60), (35, 80, 58), (115, 70, 52)):
        cv2.ellipse(img, (CX + dx, FACE_CY - 105), (w, h), 0, 0, 180, HAIR, -1, AA)
    cv2.ellipse(img, (CX - 60, FACE_CY - 185), (70, 18), -15, 0, 360, HAIR_LIGHT, -1, AA)


def closed_eye(img: np.ndarray, cx: int) -> None:
    """The eye mid-blink: lid over the eye, a curved lash line."""
    cy = FACE_CY - 5
    cv2.ellipse(img, (cx, cy), (46, 34), 0, 0, 360, SKIN, -1, AA)
    cv2.ellipse(img, (cx, cy - 8), (42, 20), 0, 15, 165, OUTLINE, 5, AA)
    flick = 1 if cx > CX else -1
    cv2.line(img, (cx + flick * 38, cy + 2), (cx + flick * 50, cy - 6), OUTLINE, 4, AA)


def eye(img: np.ndarray, cx: int, look: int) -> None:
    cy = FACE_CY - 5
    cv2.ellipse(img, (cx, cy), (42, 30), 0, 0, 360, EYE_WHITE, -1, AA)
    cv2.circle(img, (cx + look, cy + 2), 22, IRIS, -1, AA)
    cv2.circle(img, (cx + look, cy + 2), 11, PUPIL, -1, AA)
    cv2.circle(img, (cx + look + 8, cy - 7), 6, EYE_WHITE, -1, AA)
    cv2.circle(img, (cx + look - 7, cy + 9), 3, EYE_WHITE, -1, AA)
    # Upper lid line with a small lash flick, lower lid faint.
    cv2.ellipse(img, (cx, cy), (42, 30), 0, 190, 350, OUTLINE, 5, AA)
    flick = 1 if cx > CX else -1
    cv2.line(img, (cx + flick * 40, cy - 10), (cx + flick * 52, cy - 20), OUTLINE, 4, AA)
    cv2.ellipse(img, (cx, cy), (42, 30), 0, 30, 150, SKIN_SHADE, 2, AA)


def brows(img: np.ndarray) -> None:
    for side in (-1, 1):
        cv2.ellipse(img, (CX + side * 75, FACE_CY - 55), (45, 14), side * 6, 200, 340, HAIR, 9, AA)


def nose_cheeks_mouth(img: np.ndarray) -> None:
    cv2.ellipse(img, (CX, FACE_CY + 55), (14, 10), 0, 20, 160, SKIN_SHADE, 4, AA)
    for side in (-1, 1):
        cv2.ellipse(img, (CX + side * 112, FACE_CY + 70), (34, 20), 0, 0, 360, BLUSH, -1, AA)
    # Closed smile: a soft arc with slightly darker corners.
    cv2.ellipse(img, (MOUTH_CX, MOUTH_CY - 22), (44, 24), 0, 25, 155, LIP, 6, AA)
    for side in (-1, 1):
        cv2.circle(img, (MOUTH_CX + side * 40, MOUTH_CY - 11), 3, LIP, -1, AA)


def draw(blink: bool = False) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    background(img)
    hair_back(img)
    body(img)
    head(img)
    hair_front(img)
    brows(img)
    for cx in (CX - 75, CX + 75):
        if blink:
            closed_eye(img, cx)
        else:
            eye(img, cx, 4)
    nose_cheeks_mouth(img)
    return img


def main() -> None:
    default_out = Path(__file__).resolve().parent.parent / "media"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_out, help="folder to write to")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    png = out / "avatar.png"
    for path, img in ((png, draw()), (out / "avatar_blink.png", draw(blink=True))):
        if not cv2.imwrite(str(path), img, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise SystemExit(f"could not write {path}")
    meta = {"mouth_box": list(MOUTH_BOX), "size": [W, H], "blink_image": "avatar_blink.png"}
    (out / "avatar.json").write_text(json.dumps(meta) + "\n", encoding="utf-8")
    print(f"wrote {png} ({png.stat().st_size // 1024} KB) and {out / 'avatar.json'}")


if __name__ == "__main__":
    main()
