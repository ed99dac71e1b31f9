"""The integration user in the core, on both databases: a system, not a person. An administrator adds it and
issues its tokens; it places orders, ships and receives in its entities and nothing else; it never confirms or
approves; the policy file and case routing cannot name it as an approver or owner."""

from typing import Any

import pytest
from sqlalchemy import func, select

from core.actor import Person, Role
from core.db import Database
from core.errors import InvalidInput, NotFound, OutOfScope, PermissionDenied
from core.exceptions.routing import RoutingFileError, parse_routing
from core.identity import (
    TOKEN_PREFIX,
    add_integration_user,
    integration_tokens,
    issue_integration_token,
    issue_token,
    revoke_integration_token,
    token_user,
)
from core.identity.service import NotSignedIn
from core.integrations.models import IntegrationRequest
from core.integrations.service import receive_document, stored_result
from core.masterdata.service import load_actor
from core.policy import PolicyError, parse_policy
from core.policy.facts import DraftKind
from tests.test_cli_shipping import _cli
from tests.world import World

ORDER: dict[str, Any] = {"customer": "ACME", "lines": [{"sku": "V-200", "quantity": 2, "warehouse": "DAL"}]}


def _shop(world: World) -> None:
    world.db.run(lambda s: add_integration_user(s, load_actor(s, username="root"), username="shop", entities=["NA"]))


def test_an_admin_adds_an_integration_user_with_its_role_and_scope_only(world: World) -> None:
    _shop(world)
    shop = world.db.read(lambda s: load_actor(s, username="shop"))
    assert shop.roles == frozenset({Role.INTEGRATION}) and len(shop.entity_ids) == 1
    with pytest.raises(PermissionDenied, match="needs the role admin"):
        world.db.run(lambda s: add_integration_user(s, load_actor(s, username="mia"), username="x", entities=["NA"]))
    with pytest.raises(InvalidInput, match="taken"):
        world.db.run(
            lambda s: add_integration_user(s, load_actor(s, username="root"), username="shop", entities=["NA"])
        )
    with pytest.raises(InvalidInput, match="unknown: ZZ"):
        world.db.run(lambda s: add_integration_user(s, load_actor(s, username="root"), username="y", entities=["ZZ"]))


def test_an_integration_is_never_a_person(world: World) -> None:
    _shop(world)
    shop = world.db.read(lambda s: load_actor(s, username="shop"))
    with pytest.raises(PermissionDenied, match="not a person"):
        Person(shop, channel="web")


def test_its_tokens_come_from_an_administrator_and_revoking_one_signs_it_out(world: World) -> None:
    _shop(world)
    with pytest.raises(PermissionDenied, match="issued by an administrator"):
        world.db.run(lambda s: issue_token(s, load_actor(s, username="shop"), name="spare"))
    with pytest.raises(InvalidInput, match="not an integration user"):
        world.db.run(lambda s: issue_integration_token(s, load_actor(s, username="root"), username="sam", name="sam's"))
    with pytest.raises(PermissionDenied):
        world.db.run(lambda s: issue_integration_token(s, load_actor(s, username="mia"), username="shop", name="t"))
    new = world.db.run(
        lambda s: issue_integration_token(s, load_actor(s, username="root"), username="shop", name="prod", days=30)
    )
    assert world.db.run(lambda s: token_user(s, token=new.token)).actor.username == "shop"
    world.db.run(
        lambda s: revoke_integration_token(s, load_actor(s, username="root"), username="shop", token_id=new.id)
    )
    [listed] = world.db.read(lambda s: integration_tokens(s, load_actor(s, username="root"), username="shop"))
    assert listed.revoked_at is not None
    with pytest.raises(NotSignedIn):
        world.db.run(lambda s: token_user(s, token=new.token))


def test_it_places_orders_in_its_scope_but_sends_no_other_kind_of_draft(world: World) -> None:
    _shop(world)

    def send(kind: DraftKind, payload: dict[str, Any], key: str) -> str:
        shop = world.db.read(lambda s: load_actor(s, username="shop"))
        received = world.db.run(
            lambda s: receive_document(s, shop, key=key, kind=kind, payload=payload, request=payload)
        )
        return received.result.status

    assert send(DraftKind.SALES_ORDER, ORDER, "o-1") == "executed"
    with pytest.raises(InvalidInput, match="not transfer"):
        send(DraftKind.TRANSFER, {"from_warehouse": "DAL", "to_warehouse": "ATL", "lines": []}, "t-1")
    with pytest.raises(InvalidInput, match="Idempotency-Key"):
        send(DraftKind.SALES_ORDER, ORDER, "two words")
    with pytest.raises(OutOfScope):
        send(DraftKind.SALES_ORDER, {**ORDER, "customer": "BRIT"}, "o-2")
    rows = world.db.read(lambda s: s.scalar(select(func.count()).select_from(IntegrationRequest)))
    assert rows == 1
    with pytest.raises(NotFound):  # another user does not see the shop's requests
        world.db.read(lambda s: stored_result(s, load_actor(s, username="root"), key="o-1"))


def test_the_policy_file_and_case_routing_cannot_make_an_integration_decide() -> None:
    policy = """\
format: 1
name: bad
entities:
  NA: USD
rules:
  - id: sales.any
    kind: sales_order
    effect:
      approve: [integration]
    reason: "an integration approves"
"""
    with pytest.raises(PolicyError, match="an approver is a person"):
        parse_policy(policy, source="bad.yaml")
    routing = (
        "version: 1\nrules:\n  - id: shortage\n    type: shortage\n    owner_role: integration\n    sla_hours: 4\n"
        "  - id: default\n    owner_role: manager\n    sla_hours: 24\n"
    )
    with pytest.raises(RoutingFileError, match="unknown role 'integration'"):
        parse_routing(routing, source="routing.yaml")


def test_an_admin_adds_the_integration_and_issues_and_revokes_its_token_from_the_terminal(demo: Database) -> None:
    url = demo.engine.url.render_as_string(hide_password=False)
    added = _cli(url, "integrations", "add", "webshop", "--entity", "NA", "--name", "Web shop")
    assert added.exit_code == 0 and "integration user webshop added" in added.output, added.output
    refused = _cli(url, "integrations", "token", "webshop", "--name", "prod", "--by", "sam")
    assert refused.exit_code == 1 and "permission_denied" in refused.output
    issued = _cli(url, "integrations", "token", "webshop", "--name", "prod", "--days", "90")
    assert issued.exit_code == 0, issued.output
    token = next(word for word in issued.output.split() if word.startswith(TOKEN_PREFIX))
    assert demo.run(lambda s: token_user(s, token=token)).actor.username == "webshop"
    listed = _cli(url, "integrations", "tokens", "webshop")
    assert listed.exit_code == 0 and "prod" in listed.output and token not in listed.output
    token_id = demo.run(lambda s: token_user(s, token=token)).token_id
    revoked = _cli(url, "integrations", "revoke", "webshop", str(token_id))
    assert revoked.exit_code == 0, revoked.output
    with pytest.raises(NotSignedIn):
        demo.run(lambda s: token_user(s, token=token))
