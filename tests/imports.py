"""A small company as import files, shared by the import tests."""

from pathlib import Path

from core.actor import Actor, Role

COMPANY: dict[str, str] = {
    "entities": "code,name,base_currency,country\nEU,Nordwind Europa GmbH,EUR,DE\nUS,Nordwind US Inc.,USD,US\n",
    "warehouses": "code,name,entity,city\nHAM,Hamburg,EU,Hamburg\nCHI,Chicago,US,Chicago\n",
    "currency_rates": "from_currency,to_currency,rate,valid_from\n"
    "EUR,USD,1.08,2026-01-01\nUSD,EUR,0.925926,2026-01-01\n",
    "intercompany_rules": "from_entity,to_entity,markup_pct\nEU,US,6\nUS,EU,5\n",
    "items": "sku,name,category,standard_cost,list_price,uom,description,active\n"
    "PX-1,Pump 1 kW,pumps,100.00,180.00,EA,Centrifugal pump,yes\n"
    "PX-2,Pump 2 kW,pumps,150.00,260.00,EA,Centrifugal pump,yes\n"
    "FL-9,Filter cartridge,filters,4.50,9.90,EA,,yes\n",
    "substitutes": "sku,substitute_sku,priority\nPX-1,PX-2,1\n",
    "suppliers": "code,name,entity,currency,lead_time_days,payment_terms_days,note\n"
    "RHEIN,Rhein Pumpen AG,EU,EUR,14,30,\nLAKES,Great Lakes Filters,US,USD,7,45,Ships Mondays\n",
    "price_lists": "code,name,entity,currency\nEU-TRADE,Trade (EU),EU,EUR\n",
    "price_list_items": "price_list,sku,unit_price\nEU-TRADE,PX-1,150.00\nEU-TRADE,FL-9,8.00\n",
    "customers": "code,name,entity,tier,credit_limit,payment_terms_days,price_list\n"
    "BAUHAUS,Bauhaus Technik,EU,A,50000,30,EU-TRADE\nMIDWEST,Midwest Plumbing,US,B,20000,45,\n",
    "contract_prices": "customer,sku,unit_price,valid_from,valid_to\nBAUHAUS,PX-2,210.00,2026-01-01,\n",
    "users": "username,display_name,email,roles,active\n"
    "root,Root Admin,root@nordwind.example,admin,yes\nkarl,Karl Weber,karl@nordwind.example,sales;manager,yes\n",
    "user_scopes": "username,entity,approval_limit\nroot,EU,0\nroot,US,0\nkarl,EU,20000\n",
}

ADMIN = Actor(user_id=0, username="setup", roles=frozenset({Role.ADMIN}), entity_ids=frozenset())


def write_company(folder: Path, **replaced: str) -> Path:
    """The company's files in `folder`, with some replaced (by kind name); an empty text leaves a file out."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, text in (COMPANY | replaced).items():
        if text:
            (folder / f"{kind}.csv").write_text(text, encoding="utf-8")
    return folder
