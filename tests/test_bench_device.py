"""The GPU bench says clearly when there is no GPU (it runs for real only on CUDA)."""

from __future__ import annotations

import sys

import pytest

torch = pytest.importorskip("torch")


def test_without_cuda_the_device_bench_skips_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(sys, "argv", ["bench.device"])
    assert device.main() == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        "device bench: skipped: no CUDA device here (python -m bench.device --device cpu "
        "runs it on the CPU)"
    ]


def test_the_generator_is_measured_on_the_cpu() -> None:
    from bench.device import generator_fps

    assert generator_fps("cpu", 2, 0.2) > 0
