"""A tiny Coqui VITS voice with random weights, saved the way Coqui's trainer saves one.

Tests load it through the same path as an operator's fine-tuned model
(``checkpoint_0.pth`` + ``config.json``). Characters, not phonemes, so no phonemizer is
needed; hidden size 32 and two layers everywhere keep it fast on the CPU. ``full=True``
builds the full LJSpeech VITS architecture instead (for the benchmark).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
PUNCTUATIONS = "!'(),-.:;? "


def tiny_vits_config(
    *,
    sample_rate: int = 22050,
    speakers: list[str] | None = None,
    full: bool = False,
    output_path: Path | None = None,
) -> Any:
    """A ``VitsConfig`` for a tiny (or, with ``full``, the LJSpeech-size) VITS."""
    from TTS.config.shared_configs import BaseAudioConfig
    from TTS.tts.configs.shared_configs import CharactersConfig
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig

    if full:
        args = VitsArgs()
    else:
        args = VitsArgs(
            hidden_channels=32,
            hidden_channels_ffn_text_encoder=64,
            num_heads_text_encoder=2,
            num_layers_text_encoder=2,
            num_layers_flow=2,
            num_layers_posterior_encoder=2,
            resblock_kernel_sizes_decoder=[3],
            resblock_dilation_sizes_decoder=[[1, 3, 5]],
            upsample_initial_channel_decoder=32,
            # One period keeps the discriminator (training only) small.
            periods_multi_period_discriminator=[2],
        )
    if speakers:
        args.use_speaker_embedding = True
        args.num_speakers = len(speakers)
    config = VitsConfig(
        model_args=args,
        audio=BaseAudioConfig(sample_rate=sample_rate),
        use_phonemes=False,
        text_cleaner="basic_cleaners",
        characters=CharactersConfig(
            characters_class="TTS.tts.models.vits.VitsCharacters",
            pad="<PAD>",
            eos="<EOS>",
            bos="<BOS>",
            blank="<BLNK>",
            characters=CHARACTERS,
            punctuations=PUNCTUATIONS,
            phonemes=None,
            is_unique=True,
            is_sorted=True,
        ),
        add_blank=True,
        output_path=str(output_path) if output_path else "output",
    )
    if speakers:
        config.num_speakers = len(speakers)
        config.use_speaker_embedding = True
    return config


def save_tiny_vits(
    folder: Path,
    *,
    sample_rate: int = 22050,
    speakers: list[str] | None = None,
    full: bool = False,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Build the model with random weights and save ``checkpoint_0.pth`` and
    ``config.json`` in ``folder`` (plus ``speakers.json`` for a multi-speaker model).
    Returns (checkpoint, config)."""
    import torch
    from trainer.io import save_checkpoint
    from TTS.tts.models.vits import Vits

    folder.mkdir(parents=True, exist_ok=True)
    config = tiny_vits_config(sample_rate=sample_rate, speakers=speakers, full=full)
    if speakers:
        speakers_file = folder / "speakers.json"
        speakers_file.write_text(json.dumps({name: i for i, name in enumerate(speakers)}))
        config.speakers_file = str(speakers_file)
        config.model_args.speakers_file = str(speakers_file)
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Vits(config)
    config = model.config
    config.save_json(str(folder / "config.json"))
    save_checkpoint(config, model, str(folder), current_step=0, epoch=0)
    return folder / "checkpoint_0.pth", folder / "config.json"
