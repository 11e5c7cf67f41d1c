"""``streamer voice train``: fine-tune a Coqui VITS voice on an LJSpeech dataset.

The dataset is the one ``streamer voice dataset`` writes: ``DIR/metadata.csv`` with
``id|text|normalized text`` lines (no header; the third column is what is learnt) and
``DIR/wavs/<id>.wav``, mono PCM at the base model's sample rate.

What ends up on disk, under ``--out``::

    config.json               the fine-tuning config (the base's, pointed at the dataset)
    runs/<run>/               Coqui's run folder: checkpoint_<step>.pth (the last 3),
                              best_model.pth, config.json, speakers.pth (multi-speaker),
                              trainer_0_log.txt and TensorBoard events
    samples/step_<N>_<i>.wav  the test sentences spoken at every checkpoint
    samples/sentences.txt     which sentence is <i>

A checkpoint and the ``config.json`` of its run folder load as ``tts.engine: vits``.

Fine-tuning keeps the base's architecture, audio settings and vocabulary (characters or
phonemes); only the data, batch size, epochs and run settings change. Training starts
from the base's weights with a fresh step count and learning rate (Coqui's
``restore_path``); ``resume`` continues the newest run under ``--out`` instead (its last
checkpoint: weights, optimisers, schedulers, step and epoch; Coqui's ``continue_path``).

Sizing (each overridable): the batch size is about 4/3 clip per GiB of GPU memory (24 GiB
-> 32, as Coqui's LJSpeech recipe; 4 to 64) with fp16 mixed precision, or 4 on the CPU
(float32), and never more than the training clips; the epochs aim at about 10,000
optimiser steps (10 to 1000 epochs); a checkpoint with samples every 1000 steps on a GPU,
200 on the CPU; 5 % of the clips (1 to 50) are held out for evaluation.

``max_steps`` counts the steps of one call (a resumed run goes on from its saved step).
Ctrl-C saves a checkpoint to resume from.

A single-speaker base is fine-tuned as a single-speaker model. A multi-speaker base (one
with a speaker embedding table) is fine-tuned with every clip taught as one of its
existing speakers (``speaker``, default the first), so the table keeps its shape and
the result is used with ``tts.speaker`` set to that name. Bases with d-vectors or
several languages (YourTTS and the like) are not supported.

Coqui TTS, its trainer and torch are imported inside the functions that train.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import random
import shutil
import sys
import traceback
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from streamer.audio import write_wav

Device = Literal["auto", "cpu", "cuda"]

DEFAULT_TEST_SENTENCES = (
    "Hello chat, thank you so much for stopping by the stream today.",
    "That is a really good question, let me think about it for a second.",
    "Don't forget to drink some water, and have a wonderful evening!",
)
RUNS = "runs"
SAMPLES = "samples"
RUN_NAME = "finetune"
TARGET_STEPS = 10_000
"""Optimiser steps the sized number of epochs aims at (clamped to MIN/MAX_EPOCHS)."""
MIN_EPOCHS = 10
MAX_EPOCHS = 1000
CPU_BATCH = 4
"""Batch size on the CPU: training there is for trying things out."""
GPU_CLIPS_PER_GIB = 4 / 3
"""Clips per GiB of GPU memory with mixed precision (24 GiB -> 32, Coqui's LJSpeech
recipe); at least MIN_GPU_BATCH, at most MAX_GPU_BATCH."""
MIN_GPU_BATCH = 4
MAX_GPU_BATCH = 64
SAVE_STEP_GPU = 1000
SAVE_STEP_CPU = 200
KEEP_CHECKPOINTS = 3
MAX_EVAL_CLIPS = 50
CHECKPOINT_PREFIX = "checkpoint_"
SPEAKER_MARKER = "; taught as speaker "
INSTALL_HINT = (
    "`streamer voice train` needs the `voice` extra: run `make setup`, or "
    "`pip install -e '.[voice]'` with torch, torchaudio and torchcodec of one release"
)


class TrainError(Exception):
    """Training cannot start or failed; the message says what to fix."""


class TrainInterrupted(TrainError):
    """The operator stopped training (Ctrl-C); a checkpoint was saved when there was
    anything to save."""


@dataclass(frozen=True)
class TrainOptions:
    """What ``streamer voice train`` is asked to do (see the module docstring)."""

    dataset: Path
    base: Path
    """A Coqui VITS checkpoint (.pth), or a folder holding one (model_file.pth,
    model.pth, best_model.pth or the newest checkpoint_<N>.pth)."""
    out: Path
    base_config: Path | None = None
    """The base's config.json; None = config.json beside the checkpoint."""
    epochs: int | None = None
    """None = sized by the dataset: about TARGET_STEPS optimiser steps."""
    batch_size: int | None = None
    """None = sized to the hardware: GPU memory, or CPU_BATCH on the CPU."""
    device: Device = "auto"
    max_steps: int | None = None
    """Stop after this many optimiser steps of this call (smoke tests, short sessions)."""
    save_step: int | None = None
    """A checkpoint (and samples) every N steps; None = SAVE_STEP_GPU / SAVE_STEP_CPU."""
    test_sentences: tuple[str, ...] = DEFAULT_TEST_SENTENCES
    eval_split: float = 0.05
    """Fraction of the clips held out for evaluation (at least 1, at most MAX_EVAL_CLIPS);
    0 turns evaluation off."""
    num_workers: int | None = None
    """Data loader processes; None = 0 on the CPU, up to 4 with CUDA."""
    resume: bool = False
    speaker: str | None = None
    """Multi-speaker base only: the speaker the clips are taught as (None = the first)."""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "max_steps", "save_step"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.num_workers is not None and self.num_workers < 0:
            raise ValueError(f"num_workers must be 0 or more, got {self.num_workers}")
        if not 0.0 <= self.eval_split < 1.0:
            raise ValueError(f"eval_split must be a fraction in [0, 1), got {self.eval_split}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if not any(sentence.strip() for sentence in self.test_sentences):
            raise ValueError("test_sentences needs at least one sentence")


@dataclass(frozen=True)
class _Clip:
    id: str
    text: str
    wav: Path


# --------------------------------------------------------------------------- dataset


def check_dataset(path: Path, sample_rate: int | None = None) -> int:
    """Check an LJSpeech dataset and return its number of clips.

    Raises :class:`TrainError` naming the problem: no ``metadata.csv``, a line that is not
    ``id|text|normalized text`` (with its line number), a missing or unreadable WAV, a
    WAV that is not mono or not at ``sample_rate``.
    """
    return len(_read_dataset(path, sample_rate))


def _read_dataset(path: Path, sample_rate: int | None) -> list[_Clip]:
    if not path.is_dir():
        raise TrainError(f"dataset {path} is not a folder (make one with `streamer voice dataset`)")
    metadata = path / "metadata.csv"
    if not metadata.is_file():
        raise TrainError(
            f"dataset {path} has no metadata.csv (make one with `streamer voice dataset`)"
        )
    try:
        lines = metadata.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TrainError(f"cannot read {metadata}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise TrainError(f"{metadata} is not UTF-8 text: {exc.reason}") from None
    if lines and not lines[-1].strip():
        lines = lines[:-1]  # a blank last line is harmless for Coqui's reader
    clips: list[_Clip] = []
    for number, line in enumerate(lines, start=1):
        where = f"{metadata} line {number}"
        columns = line.split("|")
        if len(columns) != 3:
            raise TrainError(
                f"{where}: expected 3 columns id|text|normalized text, found {len(columns)}"
            )
        clip_id, _, text = (column.strip() for column in columns)
        if not clip_id:
            raise TrainError(f"{where}: the clip id (first column) is empty")
        if not text:
            raise TrainError(f"{where}: the normalized text (third column) is empty")
        wav = path / "wavs" / f"{clip_id}.wav"
        _check_wav(wav, where, sample_rate)
        clips.append(_Clip(clip_id, text, wav))
    if not clips:
        raise TrainError(f"{metadata} lists no clips")
    return clips


def _check_wav(wav: Path, where: str, sample_rate: int | None) -> None:
    if not wav.is_file():
        raise TrainError(f"{where}: {wav} not found")
    try:
        with wave.open(str(wav), "rb") as reader:
            channels, rate = reader.getnchannels(), reader.getframerate()
    except (OSError, EOFError, wave.Error) as exc:
        raise TrainError(f"{where}: {wav} is not a PCM WAV file ({exc})") from None
    if channels != 1:
        raise TrainError(f"{where}: {wav} has {channels} channels; the clips must be mono")
    if sample_rate is not None and rate != sample_rate:
        raise TrainError(
            f"{where}: {wav} is {rate} Hz but the base model is {sample_rate} Hz; "
            f"rebuild the dataset at {sample_rate} Hz"
        )


# --------------------------------------------------------------------------- base model


def _base_files(options: TrainOptions) -> tuple[Path, Path]:
    """The base checkpoint and its config.json."""
    base = options.base
    if base.is_dir():
        found = _checkpoint_in(base)
        if found is None:
            raise TrainError(f"--base {base} is a folder without a .pth checkpoint")
        base = found
    elif not base.is_file():
        raise TrainError(f"--base {base} not found: give a Coqui VITS checkpoint (.pth)")
    config = options.base_config or base.parent / "config.json"
    if not config.is_file():
        raise TrainError(f"the base model's config {config} not found; give it with --base-config")
    return base, config


def _checkpoint_in(folder: Path) -> Path | None:
    for name in ("model_file.pth", "model.pth", "best_model.pth"):
        if (folder / name).is_file():
            return folder / name
    steps = _checkpoints(folder)
    return steps[-1][1] if steps else None


def _checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """``checkpoint_<N>.pth`` files of a run folder, by step."""
    found = []
    for file in folder.glob(f"{CHECKPOINT_PREFIX}*.pth"):
        step = file.stem[len(CHECKPOINT_PREFIX) :]
        if step.isdigit():
            found.append((int(step), file))
    return sorted(found)


def _load_base_config(path: Path) -> Any:
    from TTS.config import load_config

    try:
        config = load_config(str(path))
    except Exception as exc:  # Coqui raises many kinds; all mean "not a usable config"
        raise TrainError(f"cannot read the base model's config {path}: {_short(exc)}") from None
    if str(getattr(config, "model", "")).lower() != "vits":
        raise TrainError(
            f"{path} is the config of a {getattr(config, 'model', None)!r} model; "
            "`streamer voice train` fine-tunes Coqui VITS models"
        )
    args = config.model_args
    if args.use_d_vector_file or args.use_language_embedding:
        raise TrainError(
            f"{path}: bases with d-vectors or several languages (YourTTS and the like) are "
            "not supported; use a single-speaker or speaker-embedding VITS"
        )
    return config


def _base_speakers(config: Any, base_config: Path) -> list[str]:
    """The speaker names of a multi-speaker base (empty for a single-speaker one); its
    speakers file is looked for beside the config when the stored path is stale."""
    if not config.model_args.use_speaker_embedding:
        return []
    if config.speakers:
        return [str(name) for name in config.speakers]
    stored = config.model_args.speakers_file or config.get("speakers_file")
    candidates = [Path(stored)] if stored else []
    candidates += [base_config.parent / "speakers.json", base_config.parent / "speakers.pth"]
    for candidate in candidates:
        if candidate.is_file():
            config.speakers_file = str(candidate.resolve())
            config.model_args.speakers_file = config.speakers_file
            return _speaker_names(candidate)
    raise TrainError(
        f"the base model {base_config} has speakers but its speakers file "
        f"({stored or 'speakers.json'}) is not beside it"
    )


def _speaker_names(path: Path) -> list[str]:
    from TTS.tts.utils.speakers import SpeakerManager

    try:
        manager = SpeakerManager(speaker_id_file_path=str(path))
    except Exception as exc:
        raise TrainError(f"cannot read the speakers file {path}: {_short(exc)}") from None
    return [str(name) for name in manager.speaker_names]


# --------------------------------------------------------------------------- sizing


def _resolve_device(device: Device) -> Literal["cpu", "cuda"]:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainError(
            f"--device cuda but this torch ({torch.__version__}) sees no CUDA device; "
            "use --device cpu or auto"
        )
    return device


def _batch_size(device: str) -> int:
    """Batch size for the hardware: see GPU_CLIPS_PER_GIB and CPU_BATCH."""
    if device != "cuda":
        return CPU_BATCH
    import torch

    gib = torch.cuda.get_device_properties(0).total_memory / 2**30
    return max(MIN_GPU_BATCH, min(MAX_GPU_BATCH, int(gib * GPU_CLIPS_PER_GIB)))


def _eval_count(clips: int, fraction: float) -> int:
    if fraction == 0:
        return 0
    if clips < 2:
        raise TrainError(
            f"the dataset has {clips} clip; evaluation needs 2 or more (or --eval-split 0)"
        )
    return max(1, min(MAX_EVAL_CLIPS, clips - 1, round(clips * fraction)))


def _epochs(train_clips: int, batch_size: int) -> int:
    steps_per_epoch = math.ceil(train_clips / batch_size)
    return max(MIN_EPOCHS, min(MAX_EPOCHS, math.ceil(TARGET_STEPS / steps_per_epoch)))


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class _Plan:
    """What write_config decided, for train()."""

    config_path: Path
    base_checkpoint: Path
    device: Literal["cpu", "cuda"]
    clips: int
    eval_clips: int
    speaker: str | None


def write_config(options: TrainOptions) -> Path:
    """Check the dataset and the base, and write ``out/config.json``: the base model's
    config pointed at the dataset (ljspeech formatter), with the batch size and epochs
    sized as documented, the test sentences, the eval split, mixed precision only on
    CUDA, and the base's vocabulary kept. Raises :class:`TrainError`."""
    return _plan(options).config_path


def _plan(options: TrainOptions) -> _Plan:
    _require_coqui()
    from TTS.config.shared_configs import BaseDatasetConfig

    base_checkpoint, base_config_path = _base_files(options)
    with _quiet(progress=False):
        config = _load_base_config(base_config_path)
        speakers = _base_speakers(config, base_config_path)
    speaker = None
    if speakers:
        speaker = options.speaker or speakers[0]
        if speaker not in speakers:
            shown = ", ".join(repr(name) for name in speakers[:20])
            raise TrainError(f"--speaker {speaker!r} is not in the base model; it has {shown}")
    elif options.speaker is not None:
        raise TrainError(f"--speaker {options.speaker!r}: the base model has one speaker only")

    clips = len(_read_dataset(options.dataset, int(config.audio.sample_rate)))
    eval_clips = _eval_count(clips, options.eval_split)
    train_clips = clips - eval_clips
    device = _resolve_device(options.device)
    batch_size = min(options.batch_size or _batch_size(device), train_clips)
    save_step = options.save_step or (SAVE_STEP_GPU if device == "cuda" else SAVE_STEP_CPU)
    workers = options.num_workers
    if workers is None:
        workers = min(4, (os.cpu_count() or 1) // 2) if device == "cuda" else 0

    out = options.out.resolve()
    config.datasets = [
        BaseDatasetConfig(
            formatter="ljspeech",
            dataset_name="dataset",
            path=str(options.dataset.resolve()),
            meta_file_train="metadata.csv",
        )
    ]
    config.output_path = str(out / RUNS)
    config.run_name = RUN_NAME
    config.run_description = f"fine-tuned from {base_checkpoint.resolve()}"
    if speaker is not None:
        config.run_description += f"{SPEAKER_MARKER}{speaker}"
    config.batch_size = batch_size
    config.eval_batch_size = max(1, min(batch_size, eval_clips))
    config.epochs = options.epochs or _epochs(train_clips, batch_size)
    config.test_sentences = [s.strip() for s in options.test_sentences if s.strip()]
    config.eval_split_size = options.eval_split
    config.eval_split_max_size = MAX_EVAL_CLIPS
    config.run_eval = eval_clips > 0
    config.mixed_precision = device == "cuda"
    if device == "cuda":
        config.precision = "fp16"  # as Coqui's VITS recipes (with a gradient scaler)
    config.num_loader_workers = workers
    config.num_eval_loader_workers = workers
    config.save_step = save_step
    config.save_n_checkpoints = KEEP_CHECKPOINTS
    config.save_checkpoints = True
    config.print_step = min(25, save_step)
    config.plot_step = min(100, save_step)
    config.log_model_step = None
    config.dashboard_logger = "tensorboard"
    config.logger_uri = None
    config.start_by_longest = device == "cuda"  # an out-of-memory batch size fails at once
    if config.use_phonemes:
        config.phoneme_cache_path = str(out / "phoneme_cache")
        config.compute_input_seq_cache = False

    out.mkdir(parents=True, exist_ok=True)
    path = out / "config.json"
    try:
        config.save_json(str(path))
    except OSError as exc:
        raise TrainError(f"cannot write {path}: {exc.strerror or exc}") from None
    return _Plan(path, base_checkpoint, device, clips, eval_clips, speaker)


# --------------------------------------------------------------------------- training


class _StopTraining(Exception):
    """Raised from a step callback when max_steps is reached."""


def train(options: TrainOptions, *, progress: bool = True) -> Path:
    """Fine-tune (or, with ``resume``, continue fine-tuning) and return the newest
    checkpoint; its run folder's ``config.json`` goes with it. Raises
    :class:`TrainError` (:class:`TrainInterrupted` on Ctrl-C)."""
    runs = options.out.resolve() / RUNS
    previous = _newest_run(runs)
    if previous is not None and not options.resume:
        raise TrainError(
            f"{options.out} already has a training run ({previous.name}); resume it "
            "with --resume, or give another --out"
        )
    plan = _plan(options)
    if options.resume and previous is None:
        _progress_log().warning(" > nothing to resume in %s: starting a new run", runs)
    runs.mkdir(parents=True, exist_ok=True)
    before = {path for path in runs.iterdir() if path.is_dir()}
    try:
        with _quiet(progress), _cuda_hidden(plan.device == "cpu"):
            return _train(options, plan, previous)
    except BaseException:
        if previous is None:  # like Coqui: a new run folder without a checkpoint goes
            for path in runs.iterdir():
                if path.is_dir() and path not in before and not any(path.glob("*.pth")):
                    shutil.rmtree(path, ignore_errors=True)
        raise


def _train(options: TrainOptions, plan: _Plan, previous: Path | None) -> Path:
    import torch
    from trainer import Trainer, TrainerArgs
    from TTS.config import load_config
    from TTS.tts.models.vits import Vits

    config = load_config(str(plan.config_path))
    train_samples, eval_samples = _samples(config, plan)
    if previous is not None:
        # Coqui reloads the run's config.json when continuing: give it this call's.
        shutil.copyfile(plan.config_path, previous / "config.json")
        args = TrainerArgs(continue_path=str(previous))
    else:
        args = TrainerArgs(restore_path=str(plan.base_checkpoint.resolve()))
    try:
        model = Vits(config)
    except Exception as exc:
        raise TrainError(f"cannot build the model from {plan.config_path}: {_short(exc)}") from None

    samples_dir = options.out.resolve() / SAMPLES
    _write_sentence_list(samples_dir, config.test_sentences)
    state: dict[str, int] = {}

    def stop_after_max_steps(trainer: Any) -> None:
        limit = options.max_steps
        if limit is not None and trainer.total_steps_done - state["start"] >= limit:
            raise _StopTraining

    trainer_class = _trainer_class(Trainer, samples_dir, plan.speaker)
    trainer_log = _progress_log()
    handlers = list(trainer_log.handlers)
    gpu = 0 if plan.device == "cuda" and "CUDA_VISIBLE_DEVICES" not in os.environ else None
    try:
        try:
            trainer = trainer_class(
                args,
                config,
                config.output_path,
                model=model,
                train_samples=train_samples,
                eval_samples=eval_samples,
                parse_command_line_args=False,
                callbacks={"on_train_step_end": stop_after_max_steps},
                gpu=gpu,
            )
        except Exception as exc:
            raise TrainError(f"cannot start Coqui's trainer: {_short(exc)}") from None
        state["start"] = trainer.total_steps_done
        run_dir = Path(trainer.output_path)
        trainer_log.info(
            " > FINE-TUNING in %s: %d clips, %d of them for evaluation",
            run_dir,
            plan.clips,
            plan.eval_clips,
        )
        try:
            trainer._fit()
        except _StopTraining:
            pass
        except KeyboardInterrupt:
            saved = _final_checkpoint(trainer, state["start"], samples=False)
            where = f"checkpoint {saved}" if saved else "no new checkpoint"
            raise TrainInterrupted(
                f"stopped at step {trainer.total_steps_done} ({where}); continue with --resume"
            ) from None
        except torch.cuda.OutOfMemoryError:
            raise TrainError(
                f"the GPU ran out of memory at batch size {config.batch_size}; "
                f"try --batch-size {max(1, config.batch_size // 2)}"
            ) from None
        except Exception as exc:
            log_file = run_dir / "trainer_0_log.txt"
            with contextlib.suppress(OSError), log_file.open("a", encoding="utf-8") as file:
                traceback.print_exc(file=file)
            raise TrainError(
                f"training failed at step {trainer.total_steps_done}: {_short(exc)} "
                f"(the traceback is in {log_file})"
            ) from None
        finally:
            trainer.dashboard_logger.finish()
        if trainer.total_steps_done == state["start"]:
            trainer_log.warning(
                " > the run has done its %d epochs; give more --epochs to train on",
                config.epochs,
            )
        saved = _final_checkpoint(trainer, state["start"], samples=True)
        newest = _checkpoints(run_dir)
        if saved is None and not newest:
            raise TrainError(f"training saved no checkpoint in {run_dir}")
        return saved or newest[-1][1]
    finally:
        for handler in list(trainer_log.handlers):
            if handler not in handlers:
                trainer_log.removeHandler(handler)
                handler.close()


def _samples(config: Any, plan: _Plan) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Training and evaluation clips through Coqui's ljspeech formatter, split here (a
    seeded shuffle) so that a small dataset still gets its one evaluation clip."""
    from TTS.tts.datasets import load_tts_samples

    speakers = list(config.speakers)
    samples, _ = load_tts_samples(config, eval_split=False)
    config.speakers = speakers  # Coqui would replace the base's speakers by "ljspeech"
    if plan.speaker is not None:
        for sample in samples:
            sample["speaker_name"] = plan.speaker
    random.Random(0).shuffle(samples)
    return samples[plan.eval_clips :], samples[: plan.eval_clips]


def _trainer_class(base: Any, samples_dir: Path, speaker: str | None) -> Any:
    """Coqui's Trainer, speaking the test sentences into WAV files at each checkpoint
    (its own test run only logs them to the dashboard, and only at the end of an
    epoch), and without copying the calling script into the run folder."""

    class VoiceTrainer(base):  # type: ignore[misc]
        speak_on_save = True
        last_saved_step: int | None = None

        def save_checkpoint(self) -> None:
            super().save_checkpoint()
            self.last_saved_step = int(self.total_steps_done)
            if self.speak_on_save:
                self.speak_samples()

        def test_run(self) -> None:
            pass  # the samples come with each checkpoint

        def save_training_script(self) -> None:
            pass

        def update_training_dashboard_logger(self, batch: Any = None, outputs: Any = None) -> None:
            if self.total_steps_done > 0:  # at step 0 nothing is learnt yet: skip the plots
                super().update_training_dashboard_logger(batch, outputs)

        def speak_samples(self) -> None:
            import torch

            model = self._get_model()
            step = int(self.total_steps_done)
            was_training = model.training
            model.eval()
            audios: dict[str, Any] = {}
            rate = int(self.config.audio.sample_rate)
            try:
                with torch.inference_mode():
                    for number, sentence in enumerate(self.config.test_sentences, start=1):
                        text = sentence[0] if isinstance(sentence, list) else sentence
                        wav = model.synthesize(text, speaker=speaker)["wav"]
                        write_wav(
                            samples_dir / f"step_{step}_{number}.wav",
                            np.asarray(wav, dtype=np.float32).reshape(-1),
                            rate,
                        )
                        audios[f"{number}-audio"] = wav
            except Exception as exc:  # the samples are for listening: never stop training
                _progress_log().warning(" > could not speak the samples: %s", _short(exc))
                return
            finally:
                if was_training:
                    model.train()
            self.dashboard_logger.test_audios(step, audios, rate)
            _progress_log().info(" > SAMPLES : %s", samples_dir / f"step_{step}_*.wav")

    return VoiceTrainer


def _progress_log() -> logging.Logger:
    """Coqui's trainer logger: its console (with ``progress``) and the run's log file."""
    return logging.getLogger("trainer")


def _final_checkpoint(trainer: Any, start: int, *, samples: bool) -> Path | None:
    """Save the state reached, unless nothing was trained or it is saved already. Coqui
    saves ``checkpoint_<N>`` inside step N, after its update; stopping right after that
    step finds the same weights saved."""
    step = int(trainer.total_steps_done)
    last = trainer.last_saved_step
    if last is not None and last >= step - 1:
        return Path(trainer.output_path) / f"{CHECKPOINT_PREFIX}{last}.pth"
    if step <= start:
        return None
    trainer.speak_on_save = samples
    trainer.save_checkpoint()
    return Path(trainer.output_path) / f"{CHECKPOINT_PREFIX}{step}.pth"


def _newest_run(runs: Path) -> Path | None:
    """The run folder under ``runs`` with the most recent checkpoint."""
    if not runs.is_dir():
        return None
    newest: tuple[float, Path] | None = None
    for folder in runs.iterdir():
        if not folder.is_dir():
            continue
        for file in folder.glob("*.pth"):
            stamp = file.stat().st_mtime
            if newest is None or stamp > newest[0]:
                newest = (stamp, folder)
    return newest[1] if newest else None


def _write_sentence_list(folder: Path, sentences: Sequence[Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{number}: {sentence[0] if isinstance(sentence, list) else sentence}"
        for number, sentence in enumerate(sentences, start=1)
    ]
    (folder / "sentences.txt").write_text(
        "samples/step_<N>_<i>.wav speak sentence <i> after <N> training steps:\n"
        + "\n".join(lines)
        + "\n",
        encoding="utf-8",
    )


@contextlib.contextmanager
def _quiet(progress: bool) -> Iterator[None]:
    """Coqui's and torch's warnings (deprecations, weight norm) are noise the operator
    cannot act on. Without ``progress`` Coqui's INFO lines stay off the terminal (the
    run's trainer_0_log.txt still gets the trainer's)."""
    import warnings

    coqui = logging.getLogger("TTS")
    trainer = logging.getLogger("trainer")
    consoles = [
        handler
        for handler in trainer.handlers
        if isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
    ]
    saved = coqui.level, [handler.level for handler in consoles]
    if not progress:
        coqui.setLevel(logging.WARNING)
        for handler in consoles:
            handler.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        coqui.setLevel(saved[0])
        for handler, level in zip(consoles, saved[1], strict=True):
            handler.setLevel(level)


@contextlib.contextmanager
def _cuda_hidden(hide: bool) -> Iterator[None]:
    """Coqui's trainer moves everything to CUDA whenever torch sees it; ``--device cpu``
    on a GPU machine hides it for the duration of the training."""
    import torch

    if not hide or not torch.cuda.is_available():
        yield
        return
    from unittest import mock

    with (
        mock.patch.object(torch.cuda, "is_available", return_value=False),
        mock.patch.object(torch.cuda, "device_count", return_value=0),
    ):
        yield


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, TrainError) else text


# --------------------------------------------------------------------------- CLI


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not a fraction in [0, 1)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``streamer voice train``."""
    parser.add_argument(
        "--dataset",
        type=Path,
        required=True,
        metavar="DIR",
        help="LJSpeech dataset folder (metadata.csv, wavs/)",
    )
    parser.add_argument(
        "--base",
        type=Path,
        required=True,
        metavar="MODEL",
        help="the Coqui VITS checkpoint to start from (.pth, or a model folder)",
    )
    parser.add_argument(
        "--base-config",
        type=Path,
        metavar="FILE",
        help="the base's config.json (default: beside the checkpoint)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for the config, runs and samples",
    )
    parser.add_argument(
        "--epochs",
        type=_positive,
        metavar="N",
        help=f"default: sized to about {TARGET_STEPS} steps",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        metavar="N",
        help=f"default: sized to the GPU's memory, {CPU_BATCH} on the CPU",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto (default) = cuda when torch sees a GPU, else cpu",
    )
    parser.add_argument(
        "--max-steps", type=_positive, metavar="N", help="stop after N more training steps"
    )
    parser.add_argument(
        "--save-step",
        type=_positive,
        metavar="N",
        help=f"checkpoint and samples every N steps (default {SAVE_STEP_GPU}, "
        f"{SAVE_STEP_CPU} on the CPU)",
    )
    parser.add_argument(
        "--test-sentence",
        action="append",
        dest="test_sentences",
        metavar="TEXT",
        help="a sentence spoken at each checkpoint (repeatable; default: three sentences)",
    )
    parser.add_argument(
        "--eval-split",
        type=_fraction,
        default=0.05,
        metavar="FRACTION",
        help="fraction of clips held out for evaluation (default 0.05; 0 = none)",
    )
    parser.add_argument(
        "--num-workers",
        type=int,
        metavar="N",
        help="data loader processes (default 0 on the CPU, up to 4 with CUDA)",
    )
    parser.add_argument(
        "--speaker", metavar="NAME", help="multi-speaker base: the speaker the clips are taught as"
    )
    parser.add_argument("--resume", action="store_true", help="continue the newest run in --out")


def run(args: argparse.Namespace) -> int:
    """Run ``streamer voice train``: 0 done, 1 failed, 2 bad usage, 130 interrupted."""
    try:
        options = TrainOptions(
            dataset=args.dataset,
            base=args.base,
            base_config=args.base_config,
            out=args.out,
            epochs=args.epochs,
            batch_size=args.batch_size,
            device=args.device,
            max_steps=args.max_steps,
            save_step=args.save_step,
            test_sentences=tuple(args.test_sentences or DEFAULT_TEST_SENTENCES),
            eval_split=args.eval_split,
            num_workers=args.num_workers,
            resume=args.resume,
            speaker=args.speaker,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        checkpoint = train(options)
    except TrainInterrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return 130
    except TrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    config = checkpoint.parent / "config.json"
    print(f"\nfine-tuned voice: {checkpoint}")
    print(f"samples to listen to: {options.out / SAMPLES}")
    print("in channel.yaml:")
    print("tts:")
    print("  engine: vits")
    print(f"  model_path: {_yaml_scalar(str(checkpoint))}")
    print(f"  config_path: {_yaml_scalar(str(config))}")
    speaker = _trained_speaker(config)
    if speaker:
        print(f"  speaker: {_yaml_scalar(speaker)}")
    return 0


def _yaml_scalar(text: str) -> str:
    """``text`` as a YAML value: plain when YAML reads it back as the same string, else
    double-quoted (a JSON string is a YAML one)."""
    import json

    import yaml

    try:
        plain = yaml.safe_load(f"key: {text}") == {"key": text}
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text)


def _trained_speaker(config: Path) -> str | None:
    """The speaker a multi-speaker base was fine-tuned as (None for single-speaker)."""
    import json

    try:
        data = json.loads(config.read_text(encoding="utf-8"))
        description = str(data.get("run_description", ""))
    except (OSError, ValueError):
        return None
    if SPEAKER_MARKER not in description:
        return None
    return description.split(SPEAKER_MARKER, 1)[1]


def _require_coqui() -> None:
    """Missing or mismatched Coqui / torch libraries become a one-line TrainError."""
    try:
        with _quiet(progress=False):
            import torch  # noqa: F401
            import trainer  # noqa: F401
            import TTS  # noqa: F401
    except ImportError as exc:
        raise TrainError(f"cannot import coqui-tts ({exc}); {INSTALL_HINT}") from None
    except OSError as exc:  # a torchaudio / torchcodec built for another torch
        raise TrainError(f"coqui-tts failed to load a library ({exc}); {INSTALL_HINT}") from None
