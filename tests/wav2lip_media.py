"""Test media for the wav2lip tests: a face the Haar cascade finds, random-weight models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from wav2lip_fast import Wav2Lip

W, H = 320, 240


def draw_face(shift: int = 0, size: int = 150) -> np.ndarray:
    """A BGR W x H frame with a cartoon face that the Haar cascade detects."""
    img: np.ndarray = np.full((H, W), 60, np.uint8)
    cx, cy = W // 2 + shift, H // 2
    cv2.ellipse(img, (cx, cy), (int(size * 0.42), int(size * 0.55)), 0, 0, 360, 190, -1)
    top = cy - size // 2

    def at(fx: float, fy: float) -> tuple[int, int]:
        return int(cx + (fx - 0.5) * size), int(top + fy * size)

    for side in (-1, 1):
        eye = at(0.5 + side * 0.2, 0.45)
        cv2.ellipse(img, eye, (int(size * 0.1), int(size * 0.056)), 0, 0, 360, 30, -1)
        brow = at(0.5 + side * 0.2, 0.36)
        cv2.ellipse(img, brow, (int(size * 0.1), int(size * 0.025)), 0, 0, 360, 40, -1)
    cv2.ellipse(img, at(0.5, 0.58), (int(size * 0.06), int(size * 0.03)), 0, 0, 360, 110, -1)
    cv2.ellipse(img, at(0.5, 0.75), (int(size * 0.15), int(size * 0.035)), 0, 0, 360, 60, -1)
    img = cv2.GaussianBlur(img, (0, 0), 2.0)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def write_video(path: Path, frames: Sequence[np.ndarray], fps: int = 25) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (W, H))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def randomize(model: Wav2Lip, seed: int) -> Wav2Lip:
    """Random weights and random BatchNorm statistics and affine parameters.

    The running statistics start from the batch statistics of one random batch (so the
    activations keep a sane size through the 40-odd layers; otherwise the sigmoid
    saturates and a comparison proves little), then are perturbed per channel.
    """
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
                assert module.bias is not None
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * 0.05)
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
        for bn in bns:
            c = bn.num_features
            bn.weight.copy_(torch.rand(c, generator=gen) + 0.5)
            bn.bias.copy_(torch.randn(c, generator=gen) * 0.2)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative: after one batch, running stats = batch stats
        model.train()
        model(torch.randn(8, 1, 80, 16, generator=gen), torch.rand(8, 6, 96, 96, generator=gen))
        for bn in bns:
            c = bn.num_features
            std = bn.running_var.sqrt()
            bn.running_mean.add_(torch.randn(c, generator=gen) * 0.2 * std)
            bn.running_var.mul_(torch.rand(c, generator=gen) * 0.8 + 0.7)
            bn.momentum = 0.1
    return model.eval()
