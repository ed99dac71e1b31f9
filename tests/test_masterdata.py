"""Master-data look-ups the channels show: names, codes and SKUs by id, the company's sites."""

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.actor import Role
from core.db import Database
from core.errors import NotFound
from core.masterdata.models import Item, User, Warehouse
from core.masterdata.service import (
    Site,
    display_names,
    get_customer,
    has_entities,
    item_count,
    item_skus,
    role_sets,
    sites,
    usernames,
    warehouse_codes,
)
from tests.world import World


def test_an_empty_database_has_no_entities_sites_or_items(db: Database) -> None:
    assert db.read(has_entities) is False and db.read(sites) == [] and db.read(item_count) == 0


def test_the_company_lists_its_warehouses_by_entity(world: World) -> None:
    assert world.read(has_entities) is True and world.read(item_count) == 5
    assert world.read(sites) == [
        Site("NA", "Northwind America", "USD", "ATL"),
        Site("NA", "Northwind America", "USD", "DAL"),
        Site("UK", "Northwind UK", "GBP", "BHM"),
    ]


def _ids(session: Session) -> dict[str, int]:
    rows = [
        *session.execute(select(Item.sku, Item.id)),
        *session.execute(select(Warehouse.code, Warehouse.id)),
        *session.execute(select(User.username, User.id)),
    ]
    return {name: row_id for name, row_id in rows}


def test_codes_skus_and_names_by_id_skip_what_is_missing(world: World) -> None:
    ids = world.read(_ids)
    skus = world.read(lambda s: item_skus(s, item_ids=[ids["V-200"], ids["X-900"], 999_999]))
    assert skus == {ids["V-200"]: "V-200", ids["X-900"]: "X-900"}
    codes = world.read(lambda s: warehouse_codes(s, warehouse_ids=[ids["DAL"], ids["BHM"]]))
    assert codes == {ids["DAL"]: "DAL", ids["BHM"]: "BHM"}
    names = world.read(lambda s: display_names(s, user_ids=[ids["sam"], None, ids["gus"], ids["sam"]]))
    assert names == {ids["sam"]: "Sam", ids["gus"]: "Gus"}
    assert world.read(lambda s: usernames(s, user_ids=[ids["mia"]])) == {ids["mia"]: "mia"}
    assert world.read(lambda s: display_names(s, user_ids=[None])) == {}


def test_a_customer_written_as_results_label_it_is_that_customer(world: World) -> None:
    sam = world.actor("sam")
    name = world.read(lambda s: get_customer(s, sam, code="ACME").name)
    assert world.read(lambda s: get_customer(s, sam, code=f"ACME {name}").code) == "ACME"
    with pytest.raises(NotFound):  # a code with another customer's name is not that customer
        world.read(lambda s: get_customer(s, sam, code="ACME Somebody Else Ltd"))


def test_the_role_sets_held_come_most_users_first_and_name_no_user(world: World) -> None:
    """One prompt is warmed per set (assistant/channels/web/app.py); a user made inactive holds none."""
    sets = world.read(role_sets)
    assert sets[0] == frozenset({Role.MANAGER})  # four managers in the test company
    assert frozenset({Role.SALES, Role.WAREHOUSE}) == sets[-1]  # one user, two roles
    assert set(sets[1:-1]) == {
        frozenset({r}) for r in (Role.SALES, Role.WAREHOUSE, Role.BUYER, Role.FINANCE, Role.ADMIN)
    }
    world.run(lambda s: s.execute(update(User).where(User.username == "uma").values(active=False)))
    assert frozenset({Role.SALES, Role.WAREHOUSE}) not in world.read(role_sets)
