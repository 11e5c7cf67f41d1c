"""The exact fast inference path: BatchNorm folded away, face encoder cached per frame.

Two things make inference cheaper without changing what the model computes:

1. :func:`fold_batchnorm` merges every eval-mode BatchNorm into the convolution before it.
   An eval BatchNorm is a per-channel affine map ``y = (x - mean) * s + beta`` with
   ``s = gamma / sqrt(var + eps)``, so ``bn(conv(x))`` equals one convolution with weight
   ``W * s`` (scaled along its output-channel axis) and bias ``(b - mean) * s + beta``.
   Conv2d weights are [cout, cin, k, k]; ConvTranspose2d weights are [cin, cout, k, k].
2. :class:`FastGenerator` runs the face encoder once per avatar frame. Its input (the
   lower-half-masked frame and the reference frame) comes from the avatar only, so its
   seven activations ("skips") do not depend on the audio and can be reused for every
   audio window shown over that frame. Per frame they hold 290,816 values (1.1 MiB in
   float32); per audio window only the audio encoder and the decoder run (~93% of the
   cost of a full forward).

On CPU the computation stays in float32; on CUDA float16 is the default.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from wav2lip_fast.checkpoint import resolve_device
from wav2lip_fast.model import (
    ConvBlock,
    ConvTransposeBlock,
    GeneratorFlow,
    Wav2Lip,
    _check_shape,
)
from wav2lip_fast.shapes import FACE_CHANNELS, FACE_SIZE, MEL_STEPS, N_MELS
from wav2lip_fast.winograd import winograd_convs

__all__ = [
    "FaceSkips",
    "FastGenerator",
    "FoldedConv",
    "FoldedWav2Lip",
    "configure_cpu_threads",
    "fold_batchnorm",
    "fold_conv_bn",
    "make_face_input",
]

_ConvLike = nn.Conv2d | nn.ConvTranspose2d


def configure_cpu_threads(n: int) -> int:
    """Use ``n`` intra-op threads for torch on the CPU; returns the previous count.

    Call it once at start-up (not at import). One thread per physical core is usually
    fastest for this model; more threads than cores slows it down.
    """
    if n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    return previous


# ----------------------------------------------------------------------------- folding


@torch.no_grad()
def fold_conv_bn(conv: _ConvLike, bn: nn.BatchNorm2d) -> _ConvLike:
    """A new convolution computing ``bn(conv(x))`` with ``bn`` in eval mode."""
    if not bn.track_running_stats or bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm without running statistics")
    mean = bn.running_mean.double()
    scale = torch.rsqrt(bn.running_var.double() + bn.eps)  # (cout,)
    beta = torch.zeros_like(mean)
    if bn.affine:
        scale = scale * bn.weight.double()
        beta = bn.bias.double()
    fused = copy.deepcopy(conv)
    weight = conv.weight.double()
    if isinstance(conv, nn.ConvTranspose2d):  # [cin, cout/groups, kh, kw]
        if conv.groups != 1:
            raise ValueError("folding a grouped transposed convolution is not supported")
        weight = weight * scale.view(1, -1, 1, 1)
    else:  # [cout, cin/groups, kh, kw]
        weight = weight * scale.view(-1, 1, 1, 1)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(mean)
    bias = (bias - mean) * scale + beta
    fused.weight = nn.Parameter(weight.to(conv.weight.dtype), requires_grad=False)
    fused.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)
    return fused


class FoldedConv(nn.Module):
    """A convolution with its BatchNorm folded in, then [+ input if residual], then ReLU."""

    def __init__(self, conv: _ConvLike, *, residual: bool = False, relu: bool = True) -> None:
        super().__init__()
        self.conv = conv
        self.residual = residual
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:  # (B,cin,H,W) -> (B,cout,H',W')
        out: Tensor = self.conv(x)  # a fresh tensor: safe to update in place
        if self.residual:
            out.add_(x)
        if self.relu:
            out.relu_()
        return out


def _fold_module(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with every ConvBlock / ConvTransposeBlock folded."""
    if isinstance(module, ConvBlock | ConvTransposeBlock):
        conv, bn = module.conv_block[0], module.conv_block[1]
        if not isinstance(conv, _ConvLike) or not isinstance(bn, nn.BatchNorm2d):
            raise TypeError(f"unexpected block layout: {module}")
        residual = isinstance(module, ConvBlock) and module.residual
        return FoldedConv(fold_conv_bn(conv, bn), residual=residual)
    if isinstance(module, nn.BatchNorm2d):
        raise TypeError("a BatchNorm2d outside a conv block cannot be folded")
    if isinstance(module, nn.Sequential):
        return nn.Sequential(*(_fold_module(m) for m in module))
    if isinstance(module, nn.ModuleList):
        return nn.ModuleList(_fold_module(m) for m in module)
    return copy.deepcopy(module)


class FoldedWav2Lip(GeneratorFlow):
    """Inference-only Wav2Lip with no BatchNorm: same encode_face / encode_audio / decode.

    Built by :func:`fold_batchnorm`; its state dict is not the checkpoint layout.
    """

    def __init__(
        self,
        face_encoder_blocks: nn.ModuleList,
        audio_encoder: nn.Sequential,
        face_decoder_blocks: nn.ModuleList,
        output_block: nn.Sequential,
    ) -> None:
        super().__init__()
        self.face_encoder_blocks = face_encoder_blocks
        self.audio_encoder = audio_encoder
        self.face_decoder_blocks = face_decoder_blocks
        self.output_block = output_block
        self.eval()
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> FoldedWav2Lip:
        if mode:
            raise RuntimeError("a FoldedWav2Lip is for inference only; train the plain Wav2Lip")
        return super().train(False)


def fold_batchnorm(model: Wav2Lip) -> FoldedWav2Lip:
    """An inference-only copy of ``model`` with every BatchNorm folded into its conv.

    The folded model uses the running statistics (eval-mode semantics) whatever mode
    ``model`` is in; ``model`` itself is left unchanged.
    """
    face_encoder = _fold_module(model.face_encoder_blocks)
    audio_encoder = _fold_module(model.audio_encoder)
    decoder = _fold_module(model.face_decoder_blocks)
    output = _fold_module(model.output_block)
    assert isinstance(face_encoder, nn.ModuleList) and isinstance(decoder, nn.ModuleList)
    assert isinstance(audio_encoder, nn.Sequential) and isinstance(output, nn.Sequential)
    folded = FoldedWav2Lip(face_encoder, audio_encoder, decoder, output)
    return folded.to(next(model.parameters()).device)


# ------------------------------------------------------------------------ face inputs


def make_face_input(faces: Tensor | np.ndarray) -> Tensor:
    """The model's (N,6,96,96) float32 face input from avatar face crops.

    ``faces`` is (N,3,96,96) (the face crop; the masked copy is made here, lower half
    rows 48..95 zeroed, giving [masked, full] as the reference does) or an already built
    (N,6,96,96). uint8 values are divided by 255 (in float64, as the reference does);
    float values are taken as already in [0, 1].
    """
    x = torch.from_numpy(np.ascontiguousarray(faces)) if isinstance(faces, np.ndarray) else faces
    if x.dim() != 4 or x.shape[1] not in (3, FACE_CHANNELS) or x.shape[2:] != (96, 96):
        raise ValueError(
            f"faces must have shape (N,3,{FACE_SIZE},{FACE_SIZE}) or "
            f"(N,{FACE_CHANNELS},{FACE_SIZE},{FACE_SIZE}), got {tuple(x.shape)}"
        )
    if x.dtype == torch.uint8:
        x = (x.double() / 255.0).float()
    elif not x.is_floating_point():
        raise ValueError(f"faces must be uint8 or floating point, got {x.dtype}")
    if x.shape[1] == 3:
        masked = x.clone()
        masked[:, :, FACE_SIZE // 2 :] = 0
        x = torch.cat((masked, x), dim=1)
    return x


# -------------------------------------------------------------------------- generator


@dataclass(frozen=True, slots=True)
class FaceSkips:
    """The face encoder's seven activations for N avatar frames (s0..s6, shallowest first)."""

    skips: tuple[Tensor, ...]

    def __len__(self) -> int:
        return int(self.skips[0].shape[0])

    def select(self, indices: Sequence[int] | Tensor) -> FaceSkips:
        """The skips of frames ``indices`` (repeats allowed), in that order."""
        device = self.skips[0].device
        idx = torch.as_tensor(indices, dtype=torch.long, device=device)
        if idx.dim() != 1:
            raise ValueError(f"frame indices must be 1-D, got shape {tuple(idx.shape)}")
        n = len(self)
        if idx.numel() and (int(idx.min()) < -n or int(idx.max()) >= n):
            raise ValueError(f"frame index out of range for {n} cached frames")
        idx = idx % n
        if idx.numel() and bool((idx.diff() == 1).all()):
            # consecutive frames (a clip played forwards): views, no copy
            first = int(idx[0])
            return FaceSkips(tuple(s[first : first + len(idx)] for s in self.skips))
        fmt = _memory_format(self.skips[0])
        return FaceSkips(
            tuple(s.index_select(0, idx).contiguous(memory_format=fmt) for s in self.skips)
        )

    def nbytes(self) -> int:
        return sum(s.numel() * s.element_size() for s in self.skips)


def _memory_format(x: Tensor) -> torch.memory_format:
    # For 1x1 maps both layouts hold; the plain one is preferred then.
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return torch.contiguous_format if x.is_contiguous() else torch.channels_last
    return torch.contiguous_format


class FastGenerator:
    """Exact Wav2Lip inference: folded BatchNorm, cached face encoder, device-aware.

    Usage::

        gen = FastGenerator(load_generator(path), device="cpu")
        cache = gen.prepare_faces(avatar_faces)       # once per avatar: (N,3|6,96,96)
        out = gen.generate(mel_batch, cache, indices) # per batch: (B,1,80,16) -> (B,3,96,96)

    ``dtype`` defaults to float16 on CUDA and float32 elsewhere (only float32 on CPU).
    ``channels_last`` stores activations NHWC, which is faster for the convolutions on
    most CPUs and GPUs; the result is the same within float rounding. ``winograd``
    (default: on the CPU in float32) computes the wide 3x3 convolutions with Winograd
    F(4x4, 3x3) (:mod:`wav2lip_fast.winograd`): the same result within float rounding,
    a quarter of their multiplications.
    """

    def __init__(
        self,
        model: Wav2Lip | FoldedWav2Lip,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        channels_last: bool = True,
        winograd: bool | None = None,
    ) -> None:
        self.device = resolve_device(device)
        if dtype is None:
            dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        if self.device.type == "cpu" and dtype != torch.float32:
            raise ValueError(f"on the CPU only float32 is exact and fast, got {dtype}")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating point type, got {dtype}")
        self.dtype = dtype
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if winograd is None:
            winograd = self.device.type == "cpu" and dtype == torch.float32
        if isinstance(model, Wav2Lip):
            folded = fold_batchnorm(model)
        else:  # the caller's model: swap layers in a copy only
            folded = copy.deepcopy(model) if winograd else model
        folded = folded.to(self.device, dtype).eval()
        self.winograd_layers = winograd_convs(folded) if winograd else 0
        if channels_last:
            folded = folded.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.model = folded

    def _input(self, x: Tensor) -> Tensor:
        return x.to(self.device, self.dtype).contiguous(memory_format=self.memory_format)

    def prepare_faces(self, faces: Tensor | np.ndarray, batch_size: int = 64) -> FaceSkips:
        """Run the face encoder once over avatar face crops; see :func:`make_face_input`."""
        x = make_face_input(faces)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        parts: list[list[Tensor]] = []
        with torch.inference_mode():
            for start in range(0, x.shape[0], batch_size):
                parts.append(self.model.encode_face(self._input(x[start : start + batch_size])))
            if not parts:
                raise ValueError("no faces given")
            if len(parts) == 1:
                skips = tuple(parts[0])
            else:
                skips = tuple(
                    torch.cat(level, dim=0).contiguous(memory_format=_memory_format(level[0]))
                    for level in zip(*parts, strict=True)
                )
        return FaceSkips(skips)

    def generate(
        self,
        mel_batch: Tensor | np.ndarray,
        faces: FaceSkips,
        frame_indices: Sequence[int] | Tensor | None = None,
        *,
        lower_only: bool = False,
    ) -> Tensor:
        """(B,1,80,16) mel windows -> (B,3,96,96) faces in [0, 1], in the model's dtype.

        ``faces`` is a cache from :meth:`prepare_faces`; ``frame_indices`` picks the
        avatar frame for each window (B entries). Without it the cache must hold exactly
        B frames, in order. ``lower_only``: only rows ``LOWER_FROM_ROW``..95 are
        computed (exactly, see :func:`decode_lower`); the rows above are 0.
        """
        mel = torch.from_numpy(mel_batch) if isinstance(mel_batch, np.ndarray) else mel_batch
        _check_shape("mel_batch", mel, (1, N_MELS, MEL_STEPS))
        chosen = faces if frame_indices is None else faces.select(frame_indices)
        if len(chosen) != mel.shape[0]:
            raise ValueError(f"{mel.shape[0]} mel windows but {len(chosen)} face frames")
        with torch.inference_mode():
            embedding = self.model.encode_audio(self._input(mel))
            if lower_only:
                return decode_lower(self.model, embedding, chosen.skips)
            out: Tensor = self.model.decode(embedding, chosen.skips)
        return out

    def forward_full(self, mel_batch: Tensor, faces: Tensor | np.ndarray) -> Tensor:
        """The folded model's full forward (face encoder included), for one-off frames."""
        with torch.inference_mode():
            face = self._input(make_face_input(faces))
            out: Tensor = self.model(self._input(mel_batch), face)
        return out


# ------------------------------------------------------------------ lower-half decode

# Rows of the 96x96 output that decode_lower computes exactly. The soft paste-back
# gives weight 0 to every box row above round(MASK_TOP * height) + 1, and the bilinear
# resize reads face row floor((y + 0.5) * 96 / height - 0.5) and the one below for box
# row y, so it never reads a face row above 47 with a non-zero weight, whatever the box
# size (tested for every height from 8 to 720 pixels).
LOWER_FROM_ROW = 47
# Where each late decoder block's input is cut (absolute row at that block's
# resolution), so that every row from LOWER_FROM_ROW of the output is exact:
# a 3x3 convolution (padding 1) on rows a.. is exact from a+1 (row a sees zeros above
# instead of row a-1); the stride-2 transposed convolution (k3, p1, output_padding 1)
# maps exact input rows a.. to exact output rows 2a.. (output row 2a draws only on
# input row a), so a block (transposed convolution, two residual 3x3 convolutions) fed
# rows a.. is exact from 2a+2. Backwards from the output block's 3x3 convolution (needs
# rows 46..): d6 cut at 22 (48 px) -> 46; d5 at 10 (24 px) -> 22; d4 at 4 (12 px) ->
# 10; d3 at 1 (6 px) -> 4.
_LOWER_PLAN: dict[int, tuple[int, int]] = {3: (6, 1), 4: (12, 4), 5: (24, 10), 6: (48, 22)}


def decode_lower(model: GeneratorFlow, embedding: Tensor, skips: Sequence[Tensor]) -> Tensor:
    """The decoder for output rows ``LOWER_FROM_ROW``..95 only; other rows are 0.

    The four last decoder stages and the output block run on the rows that the lower
    face depends on: 2.41 instead of 3.66 GMAC per audio window (34 % less), with the
    same result on the rows computed (tested to float rounding).
    """
    x = embedding
    offset = 0  # the absolute row of x's first row, at x's resolution
    blocks = model.face_decoder_blocks
    for i, (block, skip) in enumerate(zip(blocks, reversed(skips), strict=True)):
        plan = _LOWER_PLAN.get(i)
        if plan is not None:
            size, cut = plan
            if x.shape[3] != size:
                raise ValueError(f"decoder block {i} expects {size}px input, got {x.shape[3]}")
            x = x[:, :, cut - offset :]
            offset = cut
        x = block(x)
        if plan is not None:
            offset *= 2  # the block's stride-2 transposed convolution
        x = torch.cat((x, skip[:, :, offset:]), dim=1)
    rows: Tensor = model.output_block(x)
    out = rows.new_zeros((rows.shape[0], rows.shape[1], FACE_SIZE, FACE_SIZE))
    out[:, :, LOWER_FROM_ROW:] = rows[:, :, LOWER_FROM_ROW - offset :]
    return out
