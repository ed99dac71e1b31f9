from core.stock.reconciliation import stock_disagreements
from core.stock.service import available_to_promise
from tests.world import World


def test_world_opening_stock_is_on_the_ledger_and_the_balance(world: World) -> None:
    sam = world.actor("sam")
    report = world.read(lambda s: available_to_promise(s, sam, sku="V-200"))
    assert {w.warehouse: w.on_hand for w in report.warehouses} == {"ATL": 12, "DAL": 100}
    assert world.read(stock_disagreements) == []
