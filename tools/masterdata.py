"""Master data for the model: one draft tool that changes an item, customer, supplier, price or substitute, or
asks for a customer's credit limit to change (a `credit_limit_change` draft, judged by finance)."""

from core.drafts.masterdata import MasterDataAsked
from tools.drafts import DRAFT_NOTE, draft_asked
from tools.registry import Tool

TOOLS = [
    Tool(
        "draft_master_data_change",
        "Draft a master-data change: record item (cost, price, active), customer (credit_limit, terms_days, tier, "
        "price_list, note), supplier (lead_time_days, currency), price (price on price_list), contract (price for "
        "customer) or substitute (add, or remove)." + DRAFT_NOTE,
        MasterDataAsked,
        draft_asked,
        writes=True,
        # No one permission: a credit limit may be asked for by sales (manage credit), the rest needs edit master
        # data; the core checks each.
        needs=None,
    ),
]
