"""tools/install.py, the README's installer: where a missing torch comes from (pip is recorded, never run)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def installer():
    spec = importlib.util.spec_from_file_location("qdiff_install_tool", ROOT / "tools" / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_index_first_only_on_linux_without_an_nvidia_driver(installer):
    usual = [installer.TORCH_BOOTSTRAP]
    cpu = [installer.TORCH_BOOTSTRAP, "--index-url", installer.CPU_INDEX]
    assert installer.torch_sources("Linux", False, True) == [cpu, usual]
    assert installer.torch_sources("Linux", True, True) == [usual]  # the CUDA build is wanted
    assert installer.torch_sources("Linux", False, False) == [usual]  # offline or closed network
    assert installer.torch_sources("Darwin", False, True) == [usual]
    assert installer.torch_sources("Windows", False, True) == [usual]


def _record(installer, monkeypatch, fail_first: bool = False) -> list[tuple[str, ...]]:
    calls: list[tuple[str, ...]] = []

    def pip(*args: str) -> None:
        calls.append(args)
        if fail_first and len(calls) == 1:
            raise subprocess.CalledProcessError(1, ["pip"])

    monkeypatch.setattr(installer, "pip", pip)
    monkeypatch.setattr(installer.platform, "system", lambda: "Linux")
    monkeypatch.setattr(installer, "has_nvidia_gpu", lambda: False)
    monkeypatch.setattr(installer, "answers", lambda url, timeout=3.0: True)
    return calls


def test_missing_torch_comes_from_the_cpu_index_then_qdiff(installer, monkeypatch):
    calls = _record(installer, monkeypatch)
    monkeypatch.setattr(installer.importlib.util, "find_spec", lambda name: None)
    assert installer.main(["test"]) == 0
    assert calls == [(installer.TORCH_BOOTSTRAP, "--index-url", installer.CPU_INDEX),
                     ("-e", f"{installer.ROOT}[test]")]


def test_a_failing_cpu_index_falls_back_to_the_usual_indexes(installer, monkeypatch):
    calls = _record(installer, monkeypatch, fail_first=True)
    monkeypatch.setattr(installer.importlib.util, "find_spec", lambda name: None)
    installer.main([])
    assert calls == [(installer.TORCH_BOOTSTRAP, "--index-url", installer.CPU_INDEX),
                     (installer.TORCH_BOOTSTRAP,), ("-e", str(installer.ROOT))]


def test_an_installed_torch_is_never_touched(installer, monkeypatch):
    calls = _record(installer, monkeypatch)
    installer.main(["test", "plot"])  # torch is importable in the test environment
    assert calls == [("-e", f"{installer.ROOT}[test,plot]")]


def test_answers_fails_fast_on_a_closed_port(installer):
    assert installer.answers("https://127.0.0.1:9", timeout=1.0) is False
