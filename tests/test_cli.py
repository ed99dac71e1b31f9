"""The `erp-assistant` command end to end on a SQLite file, as a person uses it."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from assistant.cli import app
from core.db import Database
from core.demo import read_demo_logins
from core.drafts.models import DraftAction
from core.identity import SignInFailed, authenticate
from core.sales.models import OrderStatus, SalesOrder


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small generated company in a SQLite file, loaded through `seed`."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'erp.db'}"
    result = _cli(url, "seed", "--items", "300", "--customers", "40", "--history-months", "2")
    assert result.exit_code == 0, result.output
    yield url


def _cli(url: str, *args: str, input: str | None = None, **env: str) -> Result:
    return CliRunner().invoke(
        app, list(args), input=input, env={"ERP_DATABASE_URL": url, "COLUMNS": "200", "ERP_TODAY": "2026-11-20", **env}
    )


def test_seed_prints_what_it_loaded_and_the_demo_users(seeded: str) -> None:
    result = _cli(seeded, "status")
    assert result.exit_code == 0, result.output
    for code in ("NA", "UK", "SEA", "DAL", "ATL", "BHM", "SIN"):
        assert code in result.output
    assert "300 items" in result.output


def test_seeding_a_database_that_holds_data_is_refused(seeded: str) -> None:
    result = _cli(seeded, "seed", "--items", "300")
    assert result.exit_code == 1
    assert "already holds data" in result.output


def test_atp_shows_only_the_users_own_warehouses(seeded: str) -> None:
    result = _cli(seeded, "atp", "V-200", "--user", "sam", "--quantity", "40")
    assert result.exit_code == 0, result.output
    assert "DAL" in result.output and "ATL" in result.output
    assert "BHM" not in result.output and "SIN" not in result.output
    assert "total available" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("atp", "V-2000", "--user", "sam"), "did you mean V-200"),
        (("atp", "V-200", "--user", "sam", "--warehouse", "BHM"), "out_of_scope"),
        (("atp", "V-200", "--user", "sam", "--on", "next friday"), "not a date"),
        (("atp", "V-200", "--user", "nobody"), "unknown user 'nobody'"),
        (("order", "SO-99999999", "--user", "sam"), "unknown sales order 'SO-99999999'"),
        (("credit", "NOSUCHCUSTOMER", "--user", "sam"), "unknown customer"),
    ],
)
def test_bad_requests_get_a_clear_error_and_exit_1(seeded: str, args: tuple[str, ...], expected: str) -> None:
    result = _cli(seeded, *args)
    assert result.exit_code == 1
    assert expected in result.output


def test_credit_and_order_answer_from_the_core(seeded: str) -> None:
    credit = _cli(seeded, "credit", "ACME", "--user", "fiona")
    assert credit.exit_code == 0, credit.output
    assert "Acme Industrial Supply" in credit.output and "exposure" in credit.output
    db = Database.from_url(seeded)
    number = db.read(
        lambda s: (
            s.scalars(select(SalesOrder).where(SalesOrder.status == OrderStatus.CONFIRMED.value).limit(1)).one().number
        )
    )
    db.dispose()
    shown = _cli(seeded, "order", number, "--user", "grace")
    assert shown.exit_code == 0, shown.output
    assert number in shown.output and "confirmed" in shown.output


def test_run_prepares_a_missing_database_and_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[dict[str, object]] = []
    monkeypatch.setattr("assistant.cli.product.start", lambda **options: served.append(options))
    url = f"sqlite:///{tmp_path / 'data' / 'erp.db'}"
    first = _cli(url, "run", ERP_DATA_DIR=str(tmp_path / "data"))
    assert first.exit_code == 0, first.output
    assert "Demo company loaded" in first.output and "Demo sign-ins" in first.output
    assert (tmp_path / "data" / "demo-logins.txt").exists()
    second = _cli(url, "run", ERP_DATA_DIR=str(tmp_path / "data"))
    assert second.exit_code == 0, second.output
    assert "Demo company loaded" not in second.output and "Demo sign-ins" not in second.output
    assert served == [
        {"host": "127.0.0.1", "port": 8000, "workers": 1, "logins": False},  # just printed by the first load
        {"host": "127.0.0.1", "port": 8000, "workers": 1, "logins": True},
    ]


def test_serve_starts_the_web_service_where_the_demo_users_can_sign_in(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    env = {**os.environ, "ERP_DATABASE_URL": url, "ERP_DATA_DIR": str(tmp_path), "ERP_TODAY": "2026-11-20"}
    assert CliRunner().invoke(app, ["init"], env=env).exit_code == 0
    password = read_demo_logins(tmp_path / "demo-logins.txt")["sam"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cli = Path(sys.executable).with_name("erp-assistant")
    server = subprocess.Popen(
        [cli, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
                time.sleep(0.3)
        assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
        with httpx.Client(base_url=base) as client:
            signed_in = client.post("/api/session", json={"username": "sam", "password": password})
            assert signed_in.status_code == 200, signed_in.text
            assert client.get("/api/me").json()["display_name"] == "Sam Carter"
            assert '<script src="/static/widget.js"' in client.get("/demo").text
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    assert "/inbox" in output and "Demo sign-ins" in output


def test_a_person_drafts_and_managers_approve_through_the_gate_commands(seeded: str) -> None:
    big = (
        '{"customer": "ACME", "allow_backorder": true,'
        ' "lines": [{"sku": "V-200", "quantity": 600, "warehouse": "DAL"}]}'
    )
    drafted = _cli(seeded, "drafts", "new", "sales_order", big, "--user", "sam", "--yes")
    assert drafted.exit_code == 0, drafted.output
    assert "unconfirmed" in drafted.output and "If confirmed: Needs approval" in drafted.output
    assert "pending_approval" in drafted.output and "manager" in drafted.output
    number = drafted.output.split()[0]
    own = _cli(seeded, "drafts", "approve", number, "--user", "sam")
    assert own.exit_code == 1 and "someone else must approve" in own.output
    assert number in _cli(seeded, "drafts", "inbox", "--user", "maria").output
    for approver in ("maria", "fiona"):
        decided = _cli(seeded, "drafts", "approve", number, "--user", approver)
        assert decided.exit_code == 0, decided.output
        if "executed" in decided.output:
            break
    assert "executed" in decided.output and "result: SO-" in decided.output
    assert "audit chain intact" in _cli(seeded, "audit-verify").output


SMALL_ORDER = (  # about USD 32 for a customer with credit to spare: a salesperson may commit it alone
    '{"customer": "HIGHDESE", "allow_backorder": true, "lines": [{"sku": "V-200", "quantity": 2, "warehouse": "DAL"}]}'
)


def _draft_state(url: str, number: str | None = None) -> tuple[str | None, int]:
    """A draft's status (None without a number), and how many sales orders the company has."""
    db = Database.from_url(url)
    draft_id = int(number.removeprefix("DR-")) if number else 0
    state = db.read(
        lambda s: (
            s.scalars(select(DraftAction.status).where(DraftAction.id == draft_id)).one_or_none(),
            s.query(SalesOrder).count(),
        )
    )
    db.dispose()
    return state


def _drafted(output: str) -> str:
    return output.split()[0]


def test_drafts_new_asks_and_no_leaves_the_preview_unconfirmed_with_nothing_changed(seeded: str) -> None:
    orders = _draft_state(seeded)[1]
    declined = _cli(seeded, "drafts", "new", "sales_order", SMALL_ORDER, "--user", "sam", input="n\n")
    assert declined.exit_code == 0, declined.output
    number = _drafted(declined.output)
    assert f"{number} sales_order — unconfirmed" in declined.output and f"Confirm {number}? [y/N]" in declined.output
    assert "If confirmed: Can go ahead" in declined.output and "nothing has changed" in declined.output
    assert f"erp-assistant drafts confirm {number} --user sam" in declined.output
    assert _draft_state(seeded, number) == ("unconfirmed", orders)
    confirmed = _cli(seeded, "drafts", "confirm", number, "--user", "sam")
    assert confirmed.exit_code == 0, confirmed.output
    assert f"{number} sales_order — executed" in confirmed.output and "result: SO-" in confirmed.output
    assert _draft_state(seeded, number) == ("executed", orders + 1)


@pytest.mark.parametrize(("flags", "typed"), [((), "y\n"), (("--yes",), None)], ids=["answered-y", "--yes"])
def test_drafts_new_confirmed_executes(seeded: str, flags: tuple[str, ...], typed: str | None) -> None:
    result = _cli(seeded, "drafts", "new", "sales_order", SMALL_ORDER, "--user", "sam", *flags, input=typed)
    assert result.exit_code == 0, result.output
    number = _drafted(result.output)
    assert f"{number} sales_order — unconfirmed" in result.output  # the preview, then what the policy decided
    assert f"{number} sales_order — executed" in result.output and "result: SO-" in result.output
    assert _draft_state(seeded, number)[0] == "executed"
    assert (f"Confirm {number}?" in result.output) == (typed is not None)


def test_only_the_requester_confirms_and_only_once(seeded: str) -> None:
    declined = _cli(seeded, "drafts", "new", "sales_order", SMALL_ORDER, "--user", "sam", input="n\n")
    number = _drafted(declined.output)
    orders = _draft_state(seeded, number)[1]
    other = _cli(seeded, "drafts", "confirm", number, "--user", "maria")
    assert other.exit_code == 1 and "permission_denied" in other.output and "only the person who asked" in other.output
    assert _draft_state(seeded, number) == ("unconfirmed", orders)
    assert _cli(seeded, "drafts", "confirm", number, "--user", "sam").exit_code == 0
    again = _cli(seeded, "drafts", "confirm", number, "--user", "sam")
    assert again.exit_code == 1 and "invalid_state" in again.output and "is executed" in again.output
    assert _draft_state(seeded, number) == ("executed", orders + 1)


def test_a_malformed_draft_request_is_refused_plainly(seeded: str) -> None:
    result = _cli(seeded, "drafts", "new", "sales_order", '{"customer": "ACME", "lines": [}', "--user", "sam")
    assert result.exit_code == 1 and "not valid JSON" in result.output
    result = _cli(seeded, "drafts", "new", "sales_order", '{"customer": "ACME", "lines": []}', "--user", "sam")
    assert result.exit_code == 1 and "lines" in result.output


def test_the_product_refuses_to_start_with_a_broken_policy(seeded: str, tmp_path: Path) -> None:
    broken = tmp_path / "policy.yaml"
    broken.write_text(
        "format: 1\nname: broken\nentities: {NA: USD}\nrules:\n  - id: x\n    kind: sales_order\n    colour: red\n"
    )
    result = CliRunner().invoke(
        app, ["run"], env={"ERP_DATABASE_URL": seeded, "ERP_POLICY_FILE": str(broken), "COLUMNS": "200"}
    )
    assert result.exit_code == 1
    said = result.output.replace("\n", "")  # the console may wrap inside the long temporary path
    assert "policy.yaml, line 7" in said and "unknown field 'colour'" in said


def test_init_gives_each_demo_user_a_password_and_password_sets_a_new_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    env = {"ERP_DATABASE_URL": url, "ERP_DATA_DIR": str(tmp_path), "COLUMNS": "200", "ERP_TODAY": "2026-11-20"}
    result = CliRunner().invoke(app, ["init"], env=env)
    assert result.exit_code == 0, result.output
    logins = read_demo_logins(tmp_path / "demo-logins.txt")
    assert "Demo sign-ins" in result.output and logins["grace"] in result.output
    assert str(tmp_path / "demo-logins.txt") in result.output.replace("\n", "")
    changed = CliRunner().invoke(app, ["password", "sam"], env=env)
    assert changed.exit_code == 0, changed.output
    new = changed.output.split()[-1]
    db = Database.from_url(url)
    assert db.run(lambda s: authenticate(s, username="sam", password=new)).username == "sam"
    with pytest.raises(SignInFailed):
        db.run(lambda s: authenticate(s, username="sam", password=logins["sam"]))
    db.dispose()
