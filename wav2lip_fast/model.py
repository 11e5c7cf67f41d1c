"""The Wav2Lip generator, written from the published facts about its layout.

Parameter names and shapes match the public ``wav2lip.pth`` / ``wav2lip_gan.pth``
checkpoints (352 state-dict entries), so they load with a strict ``load_state_dict``.

Data flow (B = batch; sizes are channels x height x width):

    face  (B,6,96,96) --face encoder--> 7 skips: 16x96, 32x48, 64x24, 128x12, 256x6, 512x3, 512x1
    audio (B,1,80,16) --audio encoder--> 512x1x1
    decoder: start from the audio embedding; after every stage concatenate
             [stage output, deepest unused skip] on channels (s6 first, s0 last)
    output: 80x96 -> conv 32 -> 1x1 conv 3 -> sigmoid -> (B,3,96,96) in [0, 1]

The output channels are in the input's order (BGR when frames come from OpenCV).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from wav2lip_fast.shapes import FACE_CHANNELS, FACE_SIZE, MEL_STEPS, N_MELS

_Size = int | tuple[int, int]


class ConvBlock(nn.Module):
    """Conv2d (with bias) -> BatchNorm2d -> [+ input if residual] -> ReLU.

    Parameters live in ``conv_block.0`` (conv) and ``conv_block.1`` (batch norm).
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: _Size,
        stride: _Size = 1,
        padding: _Size = 0,
        *,
        residual: bool = False,
    ) -> None:
        super().__init__()
        if residual and (cin != cout or stride != 1):
            raise ValueError(f"a residual block needs cin == cout and stride 1, got {cin}->{cout}")
        self.conv_block = nn.Sequential(
            nn.Conv2d(cin, cout, kernel, stride, padding),
            nn.BatchNorm2d(cout),
        )
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:  # (B,cin,H,W) -> (B,cout,H',W')
        out: Tensor = self.conv_block(x)
        if self.residual:
            out = out + x
        return F.relu(out)


class ConvTransposeBlock(nn.Module):
    """ConvTranspose2d (with bias) -> BatchNorm2d -> ReLU; weight is [cin, cout, k, k]."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int, padding: int, output_padding: int = 0
    ) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel, stride, padding, output_padding),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x: Tensor) -> Tensor:  # (B,cin,H,W) -> (B,cout,H',W')
        return F.relu(self.conv_block(x))


def _down(cin: int, cout: int, n_residual: int, stride: _Size = 2) -> nn.Sequential:
    """3x3 conv cin->cout at ``stride``, then ``n_residual`` residual 3x3 convs."""
    blocks: list[nn.Module] = [ConvBlock(cin, cout, 3, stride, 1)]
    blocks += [ConvBlock(cout, cout, 3, 1, 1, residual=True) for _ in range(n_residual)]
    return nn.Sequential(*blocks)


def _up(cin: int, cout: int, n_residual: int) -> nn.Sequential:
    """Transposed 3x3 conv doubling the size, then ``n_residual`` residual 3x3 convs."""
    blocks: list[nn.Module] = [ConvTransposeBlock(cin, cout, 3, 2, 1, 1)]
    blocks += [ConvBlock(cout, cout, 3, 1, 1, residual=True) for _ in range(n_residual)]
    return nn.Sequential(*blocks)


def _check_shape(name: str, x: Tensor, expected: tuple[int, ...]) -> None:
    """Raise ValueError unless ``x`` is (B, *expected) with B >= 1."""
    if x.dim() != len(expected) + 1 or tuple(x.shape[1:]) != expected or x.shape[0] < 1:
        want = ",".join(str(n) for n in ("B", *expected))
        raise ValueError(f"{name} must have shape ({want}), got {tuple(x.shape)}")


class GeneratorFlow(nn.Module):
    """The generator's data flow, shared by :class:`Wav2Lip` and the BatchNorm-folded
    inference copy (``fast.FoldedWav2Lip``): only their blocks differ."""

    face_encoder_blocks: nn.ModuleList
    audio_encoder: nn.Sequential
    face_decoder_blocks: nn.ModuleList
    output_block: nn.Sequential

    # The three parts are separate so that callers can cache the face encoder's output
    # (it does not depend on the audio) and run only the rest per audio window.

    def encode_face(self, face: Tensor) -> list[Tensor]:
        """(B,6,96,96) -> skips s0..s6, shallowest first."""
        _check_shape("face", face, (FACE_CHANNELS, FACE_SIZE, FACE_SIZE))
        skips: list[Tensor] = []
        x = face
        for block in self.face_encoder_blocks:
            x = block(x)
            skips.append(x)
        return skips

    def encode_audio(self, audio: Tensor) -> Tensor:
        """(B,1,80,16) -> (B,512,1,1)."""
        _check_shape("audio", audio, (1, N_MELS, MEL_STEPS))
        out: Tensor = self.audio_encoder(audio)
        return out

    def decode(self, audio_embedding: Tensor, skips: Sequence[Tensor]) -> Tensor:
        """(B,512,1,1) + 7 skips -> (B,3,96,96) in [0, 1]."""
        if len(skips) != len(self.face_decoder_blocks):
            raise ValueError(f"expected {len(self.face_decoder_blocks)} skips, got {len(skips)}")
        x = audio_embedding
        for block, skip in zip(self.face_decoder_blocks, reversed(skips), strict=True):
            x = block(x)
            if x.shape[0] != skip.shape[0] or x.shape[2:] != skip.shape[2:]:
                raise ValueError(
                    f"decoder output {tuple(x.shape)} does not fit skip {tuple(skip.shape)}"
                )
            x = torch.cat((x, skip), dim=1)
        out: Tensor = self.output_block(x)
        return out

    def forward(self, audio: Tensor, face: Tensor) -> Tensor:
        """audio (B,1,80,16), face (B,6,96,96) -> (B,3,96,96) in [0, 1]."""
        _check_shape("audio", audio, (1, N_MELS, MEL_STEPS))
        _check_shape("face", face, (FACE_CHANNELS, FACE_SIZE, FACE_SIZE))
        if audio.shape[0] != face.shape[0]:
            raise ValueError(
                f"audio and face batch sizes differ: {audio.shape[0]} != {face.shape[0]}"
            )
        return self.decode(self.encode_audio(audio), self.encode_face(face))


class Wav2Lip(GeneratorFlow):
    """Lip-sync generator: (mel window, masked + reference face) -> generated face."""

    def __init__(self) -> None:
        super().__init__()
        self.face_encoder_blocks = nn.ModuleList(
            [
                nn.Sequential(ConvBlock(6, 16, 7, 1, 3)),  # s0: 16x96x96
                _down(16, 32, 2),  # s1: 32x48x48
                _down(32, 64, 3),  # s2: 64x24x24
                _down(64, 128, 2),  # s3: 128x12x12
                _down(128, 256, 2),  # s4: 256x6x6
                _down(256, 512, 1),  # s5: 512x3x3
                nn.Sequential(ConvBlock(512, 512, 3, 1, 0), ConvBlock(512, 512, 1)),  # s6: 512x1
            ]
        )
        self.audio_encoder = nn.Sequential(
            *_down(1, 32, 2, stride=1),  # 32x80x16
            *_down(32, 64, 2, stride=(3, 1)),  # 64x27x16
            *_down(64, 128, 2, stride=3),  # 128x9x6
            *_down(128, 256, 1, stride=(3, 2)),  # 256x3x3
            ConvBlock(256, 512, 3, 1, 0),  # 512x1x1
            ConvBlock(512, 512, 1),  # 512x1x1
        )
        self.face_decoder_blocks = nn.ModuleList(
            [
                nn.Sequential(ConvBlock(512, 512, 1)),  # d0: 512x1 (+s6 -> 1024)
                nn.Sequential(  # d1: 512x3 (+s5 -> 1024)
                    ConvTransposeBlock(1024, 512, 3, 1, 0),
                    ConvBlock(512, 512, 3, 1, 1, residual=True),
                ),
                _up(1024, 512, 2),  # d2: 512x6 (+s4 -> 768)
                _up(768, 384, 2),  # d3: 384x12 (+s3 -> 512)
                _up(512, 256, 2),  # d4: 256x24 (+s2 -> 320)
                _up(320, 128, 2),  # d5: 128x48 (+s1 -> 160)
                _up(160, 64, 2),  # d6: 64x96 (+s0 -> 80)
            ]
        )
        self.output_block = nn.Sequential(
            ConvBlock(80, 32, 3, 1, 1),  # 32x96x96
            nn.Conv2d(32, 3, 1),  # 3x96x96
            nn.Sigmoid(),
        )

    def generate(self, audio: Tensor, face: Tensor) -> Tensor:
        """:meth:`forward` under ``torch.inference_mode()`` (no autograd bookkeeping)."""
        with torch.inference_mode():
            out: Tensor = self(audio, face)
        return out
