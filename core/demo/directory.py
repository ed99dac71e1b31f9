"""Who the demo company is: legal entities, warehouses, suppliers, users, and how its customers are named."""

import random
import re
from dataclasses import dataclass

from core.actor import Role


@dataclass(frozen=True)
class EntitySpec:
    code: str
    name: str
    currency: str
    country: str
    order_share: float  # of the group's sales orders
    tropical: bool  # no northern-hemisphere seasons


@dataclass(frozen=True)
class WarehouseSpec:
    code: str
    name: str
    city: str
    entity: str
    rank: int  # 0 is the entity's main warehouse, which stocks every item
    share: float  # of the entity's customers served from here


@dataclass(frozen=True)
class SupplierSpec:
    code: str
    name: str
    entity: str
    currency: str
    lead_time_days: int
    categories: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class UserSpec:
    username: str
    display_name: str
    roles: tuple[Role, ...]
    entities: tuple[str, ...]
    approval_limit_usd: int


@dataclass(frozen=True)
class PriceListSpec:
    code: str
    name: str
    entity: str
    discount_pct: int  # off list price


ENTITIES = (
    EntitySpec("NA", "Northwind America", "USD", "US", 0.55, False),
    EntitySpec("UK", "Northwind UK", "GBP", "GB", 0.27, False),
    EntitySpec("SEA", "Northwind Southeast Asia", "SGD", "SG", 0.18, True),
)
WAREHOUSES = (
    WarehouseSpec("DAL", "Dallas DC", "Dallas", "NA", 0, 0.45),
    WarehouseSpec("ATL", "Atlanta DC", "Atlanta", "NA", 1, 0.35),
    WarehouseSpec("RNO", "Reno DC", "Reno", "NA", 2, 0.20),
    WarehouseSpec("BHM", "Birmingham DC", "Birmingham", "UK", 0, 0.60),
    WarehouseSpec("MAN", "Manchester DC", "Manchester", "UK", 1, 0.40),
    WarehouseSpec("SIN", "Singapore DC", "Singapore", "SEA", 0, 1.00),
)
# Units of each currency per US dollar when the history starts; rates drift from there.
USD_RATES = {"USD": 1.0, "GBP": 0.79, "SGD": 1.345}
# Transfer-pricing markup (percent on standard cost) for every ordered pair of entities.
INTERCOMPANY_MARKUP = {
    ("NA", "UK"): 8,
    ("UK", "NA"): 6,
    ("NA", "SEA"): 10,
    ("SEA", "NA"): 5,
    ("UK", "SEA"): 9,
    ("SEA", "UK"): 7,
}
SUPPLIERS = (
    SupplierSpec("KEYSTONE", "Keystone Valve & Fitting Co.", "NA", "USD", 12, ("valves", "fittings")),
    SupplierSpec("GLPIPE", "Great Lakes Pipe & Tube", "NA", "USD", 9, ("pipe", "fittings")),
    SupplierSpec("GULFPUMP", "Gulf Coast Pump Works", "NA", "USD", 21, ("pumps", "seals & gaskets")),
    SupplierSpec("MIDFAST", "Midwest Fastener Corp.", "NA", "USD", 7, ("fasteners", "sealants & adhesives")),
    SupplierSpec("ALLIED", "Allied Safety Products", "NA", "USD", 10, ("safety", "hand tools")),
    SupplierSpec("SUMMIT", "Summit Electrical Wholesale", "NA", "USD", 8, ("electrical", "instrumentation")),
    SupplierSpec(
        "PACAIR", "Pacific Air Components", "NA", "USD", 14, ("HVAC",), "Ships from Sacramento; minimum order $500"
    ),
    SupplierSpec("MIDVAL", "Midlands Valve Ltd", "UK", "GBP", 14, ("valves", "instrumentation", "seals & gaskets")),
    SupplierSpec(
        "PENNINE", "Pennine Pipe & Fittings Ltd", "UK", "GBP", 10, ("pipe", "fittings", "sealants & adhesives")
    ),
    SupplierSpec("SEVERN", "Severn Pumps Ltd", "UK", "GBP", 25, ("pumps",)),
    SupplierSpec("BCFIX", "Black Country Fixings Ltd", "UK", "GBP", 6, ("fasteners", "hand tools")),
    SupplierSpec("BRITSAFE", "Britannia Safety Supplies", "UK", "GBP", 8, ("safety", "electrical")),
    SupplierSpec(
        "KEYSTONE-UK",
        "Keystone Valve & Fitting Co. (export)",
        "UK",
        "USD",
        35,
        ("valves", "HVAC"),
        "Sea freight from Houston",
    ),
    SupplierSpec(
        "JURONG",
        "Jurong Industrial Supply Pte Ltd",
        "SEA",
        "SGD",
        7,
        ("fasteners", "hand tools", "safety", "sealants & adhesives", "electrical"),
    ),
    SupplierSpec(
        "STRAITS", "Straits Pipe & Valve Pte Ltd", "SEA", "SGD", 10, ("valves", "pipe", "fittings", "seals & gaskets")
    ),
    SupplierSpec(
        "KEYSTONE-ASIA",
        "Keystone Valve & Fitting Co. (Asia export)",
        "SEA",
        "USD",
        30,
        ("valves", "pumps", "instrumentation", "HVAC"),
        "Sea freight from Long Beach",
    ),
)
USERS = (
    UserSpec("admin", "System Administrator", (Role.ADMIN,), ("NA", "UK", "SEA"), 0),
    UserSpec("grace", "Grace Okafor", (Role.MANAGER,), ("NA", "UK", "SEA"), 250_000),
    UserSpec("sam", "Sam Carter", (Role.SALES,), ("NA",), 5_000),
    UserSpec("maria", "Maria Lopez", (Role.MANAGER,), ("NA",), 50_000),
    UserSpec("wes", "Wes Brown", (Role.WAREHOUSE,), ("NA",), 2_000),
    UserSpec("bea", "Bea Nguyen", (Role.BUYER,), ("NA",), 25_000),
    UserSpec("fiona", "Fiona Walsh", (Role.FINANCE,), ("NA",), 100_000),
    UserSpec("uma", "Uma Patel", (Role.SALES,), ("UK",), 5_000),
    UserSpec("ulrich", "Ulrich Weber", (Role.MANAGER,), ("UK",), 50_000),
    UserSpec("wyn", "Wyn Davies", (Role.WAREHOUSE,), ("UK",), 2_000),
    UserSpec("bryn", "Bryn Evans", (Role.BUYER,), ("UK",), 25_000),
    UserSpec("frank", "Frank Hughes", (Role.FINANCE,), ("UK",), 100_000),
    UserSpec("siti", "Siti Rahman", (Role.SALES,), ("SEA",), 5_000),
    UserSpec("sean", "Sean Tan", (Role.MANAGER,), ("SEA",), 50_000),
    UserSpec("wei", "Wei Lim", (Role.WAREHOUSE,), ("SEA",), 2_000),
    UserSpec("budi", "Budi Santoso", (Role.BUYER,), ("SEA",), 25_000),
    UserSpec("farah", "Farah Aziz", (Role.FINANCE,), ("SEA",), 100_000),
)
EMAIL_DOMAIN = "northwind.example"
PRICE_LISTS = (
    PriceListSpec("NA-WHOLESALE", "NA wholesale", "NA", 10),
    PriceListSpec("NA-CONTRACTOR", "NA contractor", "NA", 5),
    PriceListSpec("UK-TRADE", "UK trade", "UK", 8),
    PriceListSpec("SEA-PROJECT", "SEA project", "SEA", 7),
)

ACME_CODE = "ACME"
ACME_NAME = "Acme Industrial Supply"

PLACES = {
    "NA": (
        "Lone Star", "Peachtree", "Sierra", "Gulf Coast", "Bluebonnet", "Magnolia", "Red River", "High Desert",
        "Tahoe", "Piedmont", "Chattahoochee", "Sun Belt", "Cumberland", "Ozark", "Permian", "Brazos", "Savannah",
        "Sagebrush", "Comstock", "Pinnacle", "Liberty", "Frontier", "Heartland", "Trinity", "Cascade",
    ),
    "UK": (
        "Pennine", "Mersey", "Tyne", "Cotswold", "Black Country", "Trent Valley", "Humber", "Chiltern", "Wirral",
        "Peak", "Calder", "Solent", "Fenland", "Ribble", "Dales", "Brunel", "Thames", "Wolds", "Malvern", "Wrekin",
    ),
    "SEA": (
        "Merlion", "Temasek", "Tuas", "Changi", "Sentosa", "Kallang", "Bukit Timah", "Penang", "Johor", "Batam",
        "Mekong", "Selangor", "Klang", "Malacca", "Raffles", "Tampines", "Keppel", "Serangoon", "Pasir Panjang",
    ),
}  # fmt: skip
TRADES = {
    "NA": (
        "Mechanical", "Plumbing Supply", "Industrial Supply", "Process Systems", "Facility Services", "Pipe & Valve",
        "Irrigation", "Fire Protection", "HVAC Services", "Water Works", "Contractors", "Energy Services",
        "Refrigeration", "Maintenance",
    ),
    "UK": (
        "Plumbing & Heating", "Process Engineering", "Building Services", "Industrial Supplies", "Pipework",
        "Fluid Power", "Facilities Management", "Mechanical Services", "Water Services",
    ),
    "SEA": (
        "Marine Engineering", "Process Systems", "Building Services", "Industrial Supplies", "Oil & Gas Services",
        "Facilities Management", "M&E Contractors", "Water Technologies",
    ),
}  # fmt: skip
SUFFIXES = {"NA": ("Inc.", "LLC", "Co.", ""), "UK": ("Ltd",), "SEA": ("Pte Ltd", "Sdn Bhd")}
DELIVERY_NOTES = (
    "Receiving dock closes at 3 pm.",
    "Call ahead for deliveries over one pallet.",
    "Requires PO number on every invoice.",
    "Prefers consolidated weekly shipments.",
    "Site deliveries need a forklift on the truck.",
    "",
)


class CustomerNamer:
    """Distinct, plausible trade-customer names and short codes, per entity."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pools = {entity: self._pool(entity) for entity in PLACES}
        self.codes: set[str] = {ACME_CODE}

    def _pool(self, entity: str) -> list[tuple[str, str]]:
        pairs = [(place, trade) for place in PLACES[entity] for trade in TRADES[entity]]
        self.rng.shuffle(pairs)
        return pairs

    def name(self, entity: str, index: int) -> str:
        """The `index`-th name of the entity; past the pool, branches get a number."""
        pool = self.pools[entity]
        place, trade = pool[index % len(pool)]
        suffix = SUFFIXES[entity][index % len(SUFFIXES[entity])]
        branch = f" {index // len(pool) + 1}" if index >= len(pool) else ""
        return " ".join(part for part in (f"{place} {trade}{branch}", suffix) if part)

    def code(self, name: str) -> str:
        """A short unique code from the name's letters: "Lone Star Mechanical" becomes "LONESTAR"."""
        stem = re.sub(r"[^A-Z0-9]", "", name.upper())[:8]
        code, n = stem, 1
        while code in self.codes:
            n += 1
            code = f"{stem}{n}"
        self.codes.add(code)
        return code


def entity_spec(code: str) -> EntitySpec:
    return next(e for e in ENTITIES if e.code == code)


def user_for(role: Role, entity: str) -> str:
    """The username of the first single-entity user with this role in the entity."""
    return next(u.username for u in USERS if role in u.roles and u.entities == (entity,))
