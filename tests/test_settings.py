"""The settings: one typed object read from the environment, and the README's configuration table kept in step."""

import re
from dataclasses import fields
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core import clock
from core.settings import (
    LOCAL_MODEL,
    Settings,
    SettingsError,
    get_settings,
    load_settings,
    override_settings,
    reload_settings,
)

README = Path(__file__).resolve().parents[1] / "README.md"
LITERAL = re.compile(r"^`([^`<]*)`$|^(\d+(?:\.\d+)?)(?: s)?$")  # a stated value, not words about one


def _documented() -> dict[str, str]:
    """Each variable of the README's configuration table with its default cell (compound rows split)."""
    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| `")]
    documented: dict[str, str] = {}
    for names_cell, default_cell, *_ in rows:
        names = re.findall(r"`([A-Z_]+)`", names_cell)
        first = names[0]
        names = [first, *(first.rsplit("_", 1)[0] + n if n.startswith("_") else n for n in names[1:])]
        defaults = default_cell.split(" / ")
        for n, name in enumerate(names):
            documented[name] = (defaults[n] if len(defaults) == len(names) else default_cell).strip()
    return documented


def _fields() -> dict[str, Any]:
    return {f.metadata["env"]: f for f in fields(Settings)}


def test_every_variable_in_the_readme_is_a_setting_and_every_setting_is_in_the_readme() -> None:
    assert set(_documented()) == set(_fields())


@pytest.mark.parametrize("variable", sorted(_documented()))
def test_the_readme_states_each_settings_default(variable: str) -> None:
    stated, field = _documented()[variable], _fields()[variable]
    literal = LITERAL.match(stated)
    if stated == "none":
        assert not field.default
    elif literal:
        assert field.metadata["parse"](literal.group(1) or literal.group(2)) == field.default
    else:  # words ("today", "see below", a path in the data folder): worked out where it is used
        assert field.default is None


def test_unset_or_empty_variables_give_the_defaults() -> None:
    assert load_settings({}) == load_settings({"ERP_SESSION_HOURS": "", "ERP_TODAY": " "}) == Settings()
    defaults = load_settings({})
    assert defaults.session_hours == 12 and defaults.assistant_model == LOCAL_MODEL and defaults.today is None
    assert defaults.data_dir == Path("data") and defaults.cookie_secure == "auto" and defaults.widget_origins == ()


def test_values_are_typed() -> None:
    settings = load_settings(
        {
            "ERP_TODAY": "2026-03-09",
            "ERP_SESSION_HOURS": "8",
            "ERP_ASSISTANT_TIMEOUT": "30.5",
            "ERP_LOW_RISK_USD": "1000.50",
            "ERP_WIDGET_ORIGINS": "https://intra.example/, https://wiki.example",
            "ERP_WEB_URL": "https://erp.example/",
            "ERP_COOKIE_SECURE": "always",
        }
    )
    assert settings.today == date(2026, 3, 9) and settings.session_hours == 8 and settings.assistant_timeout == 30.5
    assert settings.low_risk_usd == Decimal("1000.50") and settings.cookie_secure == "always"
    assert settings.widget_origins == ("https://intra.example", "https://wiki.example")
    assert settings.web_url == "https://erp.example"


def test_a_bad_value_is_refused_with_the_variable_and_what_it_expects() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"ERP_SESSION_HOURS": "abc", "ERP_COOKIE_SECURE": "sometimes", "ERP_TODAY": "2026-13-01"})
    message = refused.value.message
    assert "ERP_SESSION_HOURS must be a whole number, at least 1, not 'abc'" in message
    assert "ERP_COOKIE_SECURE must be auto, always or never, not 'sometimes'" in message
    assert "ERP_TODAY must be an ISO date" in message
    assert refused.value.details["variables"] == ["ERP_TODAY", "ERP_SESSION_HOURS", "ERP_COOKIE_SECURE"]


def test_a_number_below_its_minimum_is_refused() -> None:
    with pytest.raises(SettingsError, match="ERP_TURNS_PER_MINUTE must be a whole number, at least 1, not '0'"):
        load_settings({"ERP_TURNS_PER_MINUTE": "0"})


def test_secrets_stay_out_of_the_settings_repr() -> None:
    assert "xoxb-secret" not in repr(load_settings({"SLACK_BOT_TOKEN": "xoxb-secret"}))


def test_get_settings_follows_the_environment_as_a_test_changes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_TODAY", "2026-03-09")
    assert clock.today() == date(2026, 3, 9)
    assert get_settings() is get_settings()  # parsed once while nothing changes
    monkeypatch.setenv("ERP_TODAY", "2026-03-10")
    assert clock.today() == date(2026, 3, 10)
    assert reload_settings().today == date(2026, 3, 10)


def test_an_override_applies_within_its_block_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_TURNS_PER_MINUTE", "5")
    with override_settings(turns_per_minute=100) as overridden:
        assert overridden.turns_per_minute == get_settings().turns_per_minute == 100
    assert get_settings().turns_per_minute == 5


def test_a_bad_value_in_the_environment_fails_at_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_SESSION_HOURS", "abc")
    with pytest.raises(SettingsError, match="ERP_SESSION_HOURS"):
        get_settings()


def test_the_product_reads_its_configuration_only_through_the_settings() -> None:
    root = README.parent
    reads = re.compile(r"os\.environ\.get\(|os\.getenv\(|environ\[[^\]]+\](?!\s*=)|=\s*os\.environ\s*$")
    readers = [
        f"{path.relative_to(root)}:{n}"
        for folder in ("core", "tools", "assistant")
        for path in sorted((root / folder).rglob("*.py"))
        if path != root / "core" / "settings.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if reads.search(line) and "ERP_EVAL_RESULTS" not in line  # the eval harness's own variable
    ]
    assert readers == []
