"""Which llama.cpp weight buffers the local model asks for on this CPU (no model is loaded here)."""

from pathlib import Path

import pytest

from assistant.llm.local.model import cpu_advertises_amx, extra_buffers_wanted
from core.settings import SettingsError


def test_a_cpu_that_advertises_amx_is_recognised_from_its_flags(tmp_path: Path) -> None:
    amx, plain = tmp_path / "amx", tmp_path / "plain"
    amx.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f amx_bf16 amx_tile amx_int8\n")
    plain.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f\n")
    assert cpu_advertises_amx(amx) and not cpu_advertises_amx(plain)
    assert not cpu_advertises_amx(tmp_path / "missing")


def test_by_default_extra_buffers_are_used_except_on_a_cpu_that_advertises_amx() -> None:
    assert extra_buffers_wanted("auto", amx=False)
    assert not extra_buffers_wanted("auto", amx=True)


def test_the_setting_overrides_the_cpu_check(monkeypatch: pytest.MonkeyPatch) -> None:
    assert extra_buffers_wanted("on", amx=True) and not extra_buffers_wanted("off", amx=False)
    monkeypatch.setenv("ERP_LOCAL_EXTRA_BUFFERS", " ON ")
    assert extra_buffers_wanted(amx=True)


def test_a_bad_setting_names_the_variable_and_its_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_LOCAL_EXTRA_BUFFERS", "sometimes")
    with pytest.raises(SettingsError, match="ERP_LOCAL_EXTRA_BUFFERS must be auto, on or off"):
        extra_buffers_wanted(amx=False)


def test_checkouts_linking_one_models_folder_share_a_saved_prefix(tmp_path: Path) -> None:
    """The saved prefix is keyed by the model file's real path: a second checkout whose data/models links to the first
    one's finds the prefixes the first saved (the evaluation and the benchmarks run in such checkouts)."""
    from types import SimpleNamespace

    from assistant.llm.local.model import Engine

    models = tmp_path / "main" / "models"
    models.mkdir(parents=True)
    (models / "m.gguf").write_bytes(b"weights")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "models").symlink_to(models)
    here, there = (SimpleNamespace(path=p / "m.gguf", n_ctx=16384) for p in (models, tmp_path / "other" / "models"))
    assert Engine._state_file(here, [1, 2, 3]) == Engine._state_file(there, [1, 2, 3])  # type: ignore[arg-type]
    assert Engine._state_file(here, [1, 2, 3]) != Engine._state_file(here, [1, 2])  # type: ignore[arg-type]


def test_a_prefix_in_use_is_marked_as_used_so_that_another_is_dropped_first(tmp_path: Path) -> None:
    """Saved prefixes are dropped least recently used first: one the context holds, or loads from disk, counts as
    used now (a prefix saved for one request must not push out a set of roles' prefix in daily use)."""
    import os
    from types import SimpleNamespace

    from assistant.llm.local.model import Engine

    saved = tmp_path / "m-key.state"
    saved.write_bytes(b"state")
    os.utime(saved, (1_000_000, 1_000_000))
    held = SimpleNamespace(cached=lambda tokens: len(tokens), _state_file=lambda tokens: saved)
    assert Engine.ensure_prefix(held, [1, 2, 3]).source == "memory"  # type: ignore[arg-type]
    assert saved.stat().st_mtime > 1_000_000 + 86_400
    os.utime(saved, (1_000_000, 1_000_000))
    loaded = SimpleNamespace(cached=lambda tokens: 0, _state_file=lambda tokens: saved, _load_state=lambda p, t: True)
    assert Engine.ensure_prefix(loaded, [1, 2, 3]).source == "disk"  # type: ignore[arg-type]
    assert saved.stat().st_mtime > 1_000_000 + 86_400
