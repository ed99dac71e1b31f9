"""The demo catalogue: industrial-distribution product families, with names, descriptions, costs and prices."""

import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Size:
    label: str  # as in a name: "3/4in"
    words: str  # as in a description: "3/4 inch"


@dataclass(frozen=True)
class Material:
    name: str
    factor: float  # cost relative to the family's first material
    note: str = ""  # what the material changes in the description


@dataclass(frozen=True)
class Family:
    category: str
    kind: str
    materials: tuple[Material, ...]
    sizes: tuple[Size, ...]
    base_cost: float  # USD, first material, first size
    step: float  # cost growth from one size to the next
    detail: str
    uom: str = "EA"
    pack: str = ""


@dataclass(frozen=True)
class Category:
    name: str
    prefix: str
    share: float  # of the generated catalogue
    markup: float  # list price over standard cost
    peak_month: int
    amplitude: float  # seasonal swing of demand in the northern hemisphere


@dataclass(frozen=True)
class CatalogItem:
    sku: str
    name: str
    description: str
    category: str
    uom: str
    standard_cost: Decimal
    list_price: Decimal
    group: str  # items of one group (same kind and size) can stand in for each other
    popularity: float


@dataclass(frozen=True)
class Anchor:
    """An item other code and scenarios name by SKU."""

    sku: str
    kind: str
    material: str
    size: str
    boost: float


def inches(*labels: str) -> tuple[Size, ...]:
    """Nominal sizes: "3/4" becomes 3/4in, "3/4 inch"."""
    return tuple(Size(f"{label}in", f"{label} inch") for label in labels)


def sizes(*pairs: tuple[str, str]) -> tuple[Size, ...]:
    return tuple(Size(label, words) for label, words in pairs)


def plain(*labels: str) -> tuple[Size, ...]:
    """Sizes whose label reads the same in a description."""
    return tuple(Size(label, label) for label in labels)


def materials(*specs: tuple[str, float] | tuple[str, float, str]) -> tuple[Material, ...]:
    return tuple(Material(*spec) for spec in specs)


CATEGORIES = (
    Category("valves", "V", 0.14, 1.6, 4, 0.12),
    Category("fittings", "FT", 0.14, 1.8, 4, 0.12),
    Category("pipe", "PP", 0.07, 1.4, 4, 0.12),
    Category("pumps", "P", 0.06, 1.4, 5, 0.22),
    Category("fasteners", "F", 0.11, 1.9, 3, 0.05),
    Category("seals & gaskets", "G", 0.08, 1.8, 3, 0.05),
    Category("hand tools", "T", 0.07, 1.55, 11, 0.10),
    Category("safety", "S", 0.08, 1.7, 9, 0.06),
    Category("electrical", "E", 0.09, 1.45, 10, 0.08),
    Category("HVAC", "H", 0.08, 1.5, 7, 0.35),
    Category("instrumentation", "I", 0.04, 1.65, 4, 0.05),
    Category("sealants & adhesives", "A", 0.04, 1.9, 5, 0.10),
)
CATEGORY = {c.name: c for c in CATEGORIES}

PIPE = inches("1/4", "3/8", "1/2", "3/4", "1", "1-1/4", "1-1/2", "2", "2-1/2", "3", "4", "6")
SMALL_PIPE = PIPE[:8]
LARGE_PIPE = inches("2", "2-1/2", "3", "4", "6", "8", "10", "12")
HP = sizes(*((f"{hp}hp", f"{hp} horsepower") for hp in ("1/2", "3/4", "1", "1-1/2", "2", "3", "5", "7-1/2")))
GLOVES = sizes(("size S", "size small"), ("size M", "size medium"), ("size L", "size large"), ("size XL", "size XL"))
VESTS = sizes(("size M", "size medium"), ("size L", "size large"), ("size XL", "size XL"), ("size 2XL", "size 2XL"))
METRIC_BOLTS = sizes(
    *(
        (f"M{d} x {length}mm", f"M{d} thread, {length} mm long")
        for d, length in ((6, 20), (6, 30), (8, 25), (8, 40), (10, 30), (10, 50), (12, 40), (12, 60), (16, 80))
    )
)
INCH_BOLTS = sizes(
    *(
        (f"{t} x {length}in", f"{t} UNC thread, {length} inch long")
        for t, length in (
            ("1/4-20", "1"),
            ("5/16-18", "1-1/2"),
            ("3/8-16", "2"),
            ("1/2-13", "2"),
            ("1/2-13", "3"),
            ("5/8-11", "3"),
        )
    )
)
NUTS = plain("M6", "M8", "M10", "M12", "M16", "M20", "1/4-20", "3/8-16", "1/2-13")
AWG = sizes(*((f"{g} AWG", f"{g} AWG") for g in ("14", "12", "10", "8", "6")))
AMPS = plain("15A", "20A", "30A", "40A", "50A", "60A")
WATTS = plain("100W", "150W", "200W", "240W")
FILTERS = sizes(
    *((f"{s}", f"{s} inch") for s in ("16x20x1", "16x25x1", "20x20x1", "20x25x1", "16x25x2", "20x20x2", "20x25x4"))
)
GAUGE_RANGES = sizes(*((f"0-{p}psi", f"0 to {p} psi") for p in ("30", "60", "100", "160", "300", "600")))
TUBE_CAPS = sizes(("4oz", "4 fl oz can"), ("8oz", "8 fl oz can"), ("16oz", "1 pint can"), ("32oz", "1 quart can"))
WRENCHES = inches("10", "14", "18", "24", "36", "48")
TONS = sizes(*((f"{t} ton", f"{t} ton capacity") for t in ("1-1/2", "2", "2-1/2", "3", "4", "5")))
CAPACITORS = sizes(*((f"{uf}/5 MFD", f"{uf}/5 microfarad") for uf in ("20", "30", "35", "40", "45", "55")))

BRASS_ETC = materials(
    ("brass", 1.0, "NPT female threaded ends, 600 psi WOG"),
    ("lead-free brass", 1.15, "NPT female threaded ends, NSF/ANSI 61 for potable water, 600 psi WOG"),
    ("stainless steel", 2.4, "316 stainless body and ball, NPT threaded ends, 1000 psi WOG"),
    ("bronze", 1.3, "sweat ends for copper tube, 400 psi WOG"),
    ("carbon steel", 1.6, "socket weld ends, ASME class 800"),
    ("PVC", 0.45, "solvent-weld socket ends, 150 psi at 73F"),
)
FITTING_MATERIALS = materials(
    ("brass", 1.0, "NPT threaded, 1200 psi"),
    ("black iron", 0.7, "class 150 malleable iron, NPT threaded"),
    ("galvanized steel", 0.8, "class 150 malleable iron, hot-dip galvanized, NPT threaded"),
    ("304 stainless steel", 2.2, "class 150, NPT threaded"),
    ("copper", 0.6, "wrought copper, sweat ends"),
    ("PVC schedule 40", 0.25, "solvent-weld socket ends"),
    ("CPVC", 0.35, "solvent-weld socket ends, hot and cold water"),
)
STEEL_FASTENERS = materials(
    ("zinc-plated steel", 1.0, "class 8.8, zinc plated"),
    ("stainless steel 18-8", 2.6, "A2 stainless, corrosion resistant"),
    ("grade 8 steel", 1.7, "yellow zinc, high tensile"),
    ("hot-dip galvanized steel", 1.4, "for outdoor use"),
)

FAMILIES = (
    Family("valves", "ball valve", BRASS_ETC, PIPE[:11], 4.2, 1.38, "full port, lever handle"),
    Family(
        "valves",
        "gate valve",
        materials(
            ("bronze", 1.0, "threaded ends, 200 psi WOG"),
            ("cast iron", 1.4, "flanged class 125 ends"),
            ("stainless steel", 2.3, "threaded ends"),
        ),
        PIPE[2:],
        9.0,
        1.45,
        "rising stem, union bonnet",
    ),
    Family(
        "valves",
        "swing check valve",
        materials(
            ("brass", 1.0, "threaded ends"),
            ("bronze", 1.2, "sweat ends"),
            ("PVC", 0.5, "socket ends"),
            ("cast iron", 1.6, "flanged ends"),
        ),
        PIPE[2:],
        6.0,
        1.4,
        "Y-pattern, renewable disc",
    ),
    Family(
        "valves",
        "butterfly valve",
        materials(
            ("ductile iron", 1.0, "EPDM seat"),
            ("stainless steel", 2.1, "PTFE seat"),
            ("gear-operated ductile iron", 1.5, "Buna-N seat"),
        ),
        LARGE_PIPE,
        48.0,
        1.35,
        "lug style, fits class 150 flanges",
    ),
    Family(
        "valves",
        "needle valve",
        materials(("brass", 1.0), ("stainless steel", 2.0)),
        inches("1/8", "1/4", "3/8", "1/2"),
        8.0,
        1.3,
        "fine metering, 3000 psi",
    ),
    Family(
        "valves",
        "pressure relief valve",
        materials(("brass", 1.0, "150 psi set pressure"), ("bronze", 1.25, "ASME section VIII, 125 psi set")),
        inches("1/2", "3/4", "1", "1-1/4", "1-1/2", "2"),
        18.0,
        1.4,
        "test lever, side outlet",
    ),
    *(
        Family("fittings", kind, FITTING_MATERIALS, SMALL_PIPE, cost, 1.35, detail)
        for kind, cost, detail in (
            ("90 degree elbow", 0.65, "standard radius"),
            ("45 degree elbow", 0.7, "standard radius"),
            ("tee", 0.9, "equal outlets"),
            ("coupling", 0.45, "full coupling"),
            ("union", 1.9, "ground joint"),
            ("cap", 0.4, "round head"),
            ("hex nipple", 0.5, "close pattern"),
            ("reducing bushing", 0.55, "hex head, one size down"),
        )
    ),
    Family(
        "pipe",
        "schedule 40 pipe",
        materials(
            ("black steel", 1.0, "ASTM A53 ERW, plain ends"),
            ("galvanized steel", 1.3, "ASTM A53, threaded and coupled"),
        ),
        PIPE[2:],
        14.0,
        1.5,
        "sold per length",
        pack="21ft length",
    ),
    Family(
        "pipe",
        "type L copper tube",
        materials(("hard drawn", 1.0, "ASTM B88"), ("soft annealed", 1.1, "bends without fittings, ASTM B88")),
        PIPE[:8],
        9.0,
        1.55,
        "for water and HVAC",
        pack="10ft length",
    ),
    Family(
        "pipe",
        "PVC pipe",
        materials(("schedule 40", 1.0, "NSF-61, plain end"), ("schedule 80", 1.6, "grey, plain end")),
        PIPE[2:],
        3.5,
        1.5,
        "pressure rated",
        pack="10ft length",
    ),
    Family(
        "pipe",
        "PEX tubing",
        materials(("PEX-A white", 1.0), ("PEX-B red", 0.85, "for hot water"), ("PEX-B blue", 0.85, "for cold water")),
        inches("3/8", "1/2", "3/4", "1"),
        22.0,
        1.45,
        "ASTM F876",
        uom="RL",
        pack="100ft coil",
    ),
    Family(
        "pipe",
        "316 stainless tube",
        materials(("seamless", 1.0), ("welded", 0.75)),
        inches("1/4", "3/8", "1/2", "3/4", "1"),
        38.0,
        1.4,
        "0.035in wall, annealed",
        pack="20ft length",
    ),
    Family(
        "pumps",
        "centrifugal pump",
        materials(("cast iron", 1.0, "bronze impeller"), ("stainless steel", 1.7, "316 wetted parts")),
        HP,
        240.0,
        1.3,
        "end suction, TEFC motor, 230/460V three phase",
    ),
    Family(
        "pumps",
        "submersible sump pump",
        materials(("thermoplastic", 1.0, "vertical float switch"), ("cast iron", 1.5, "tethered float switch")),
        HP[:4],
        95.0,
        1.3,
        "115V single phase, 1-1/2in discharge",
    ),
    Family(
        "pumps",
        "circulator pump",
        materials(
            ("cast iron", 1.0, "for closed hydronic systems"),
            ("bronze", 1.6, "for potable water"),
            ("stainless steel", 1.9, "for potable water"),
        ),
        sizes(("1/25hp", "1/25 horsepower"), ("1/12hp", "1/12 horsepower"), ("1/6hp", "1/6 horsepower")),
        110.0,
        1.4,
        "wet rotor, 3-speed, 115V",
    ),
    Family(
        "pumps",
        "air-operated diaphragm pump",
        materials(
            ("aluminum", 1.0, "Buna-N diaphragms"),
            ("polypropylene", 0.9, "PTFE diaphragms"),
            ("stainless steel", 2.2, "PTFE diaphragms"),
        ),
        inches("1/2", "1", "1-1/2", "2"),
        420.0,
        1.45,
        "double diaphragm, up to 120 psi air",
    ),
    Family(
        "pumps",
        "booster pump",
        materials(("stainless steel", 1.0)),
        HP[:5],
        380.0,
        1.25,
        "multistage vertical, pressure tank ready",
    ),
    *(
        Family("fasteners", kind, STEEL_FASTENERS, bolt_sizes, cost, 1.25, detail, uom="BX", pack=pack)
        for kind, bolt_sizes, cost, detail, pack in (
            ("hex bolt", METRIC_BOLTS, 7.0, "fully threaded", "box of 100"),
            ("hex bolt", INCH_BOLTS, 8.0, "partially threaded", "box of 50"),
            ("socket head cap screw", METRIC_BOLTS, 9.0, "hex socket drive", "box of 100"),
            ("hex nut", NUTS, 3.0, "coarse thread", "box of 100"),
            ("flat washer", NUTS, 2.0, "standard pattern", "box of 250"),
            ("split lock washer", NUTS, 2.2, "medium section", "box of 250"),
            ("wedge anchor", INCH_BOLTS, 14.0, "for cracked and uncracked concrete", "box of 25"),
        )
    ),
    Family("fasteners", "threaded rod", STEEL_FASTENERS, NUTS, 2.5, 1.3, "fully threaded, coarse", pack="3ft length"),
    Family(
        "seals & gaskets",
        "spiral wound gasket",
        materials(
            ("316 stainless / graphite", 1.0, "inner and outer ring"), ("304 stainless / PTFE", 1.3, "outer ring")
        ),
        PIPE[2:],
        6.0,
        1.3,
        "ASME B16.20, class 150",
    ),
    Family(
        "seals & gaskets",
        "full face flange gasket",
        materials(
            ("EPDM", 1.0, "for water service"),
            ("neoprene", 1.1),
            ("non-asbestos fibre", 1.4, "for steam"),
            ("PTFE", 2.4, "for chemical service"),
        ),
        PIPE[4:],
        3.0,
        1.35,
        "1/8in thick, class 150",
    ),
    Family(
        "seals & gaskets",
        "O-ring kit",
        materials(
            ("nitrile", 1.0, "oil resistant"), ("Viton", 2.8, "high temperature"), ("EPDM", 1.2, "for water and steam")
        ),
        sizes(
            ("225 pieces", "225 pieces in 18 inch sizes"),
            ("382 pieces", "382 pieces in 30 inch sizes"),
            ("407 pieces", "407 pieces in 32 metric sizes"),
        ),
        18.0,
        1.25,
        "in a compartment case",
        uom="KT",
    ),
    Family(
        "seals & gaskets",
        "mechanical pump seal",
        materials(("carbon / ceramic", 1.0, "Buna elastomers"), ("silicon carbide", 2.1, "Viton elastomers")),
        inches("5/8", "3/4", "7/8", "1", "1-1/8", "1-3/8"),
        24.0,
        1.2,
        "type 21 elastomer bellows",
    ),
    Family(
        "seals & gaskets",
        "compression packing",
        materials(("PTFE", 1.0), ("graphite", 1.3), ("aramid", 1.5)),
        inches("1/8", "3/16", "1/4", "5/16", "3/8", "1/2"),
        45.0,
        1.1,
        "braided, for pumps and valves",
        uom="RL",
        pack="5lb spool",
    ),
    Family(
        "hand tools",
        "pipe wrench",
        materials(("cast iron", 1.0), ("aluminum", 1.45, "lightweight")),
        WRENCHES,
        22.0,
        1.35,
        "straight pattern, hook jaw",
    ),
    Family(
        "hand tools",
        "adjustable wrench",
        materials(("chrome vanadium", 1.0), ("nickel chrome", 1.2)),
        inches("6", "8", "10", "12", "15"),
        11.0,
        1.25,
        "wide jaw, laser etched scale",
    ),
    Family(
        "hand tools",
        "tubing cutter",
        materials(("heavy duty", 1.0), ("mini", 0.6, "for tight spaces")),
        sizes(
            ("1/8-1-1/8in", "1/8 to 1-1/8 inch capacity"),
            ("1/4-1-5/8in", "1/4 to 1-5/8 inch capacity"),
            ("1/4-2-5/8in", "1/4 to 2-5/8 inch capacity"),
        ),
        14.0,
        1.5,
        "for copper, brass and aluminum tube",
    ),
    Family(
        "hand tools",
        "torque wrench",
        materials(("click type", 1.0), ("digital", 2.6, "with angle readout")),
        sizes(("3/8in drive", "3/8 inch drive"), ("1/2in drive", "1/2 inch drive"), ("3/4in drive", "3/4 inch drive")),
        55.0,
        1.45,
        "calibrated to +/-4%, with certificate",
    ),
    Family(
        "hand tools",
        "pipe threader set",
        materials(("manual ratchet", 1.0), ("portable power drive", 6.0)),
        sizes(
            ("1/2-1in", "1/2 to 1 inch dies"),
            ("1/2-1-1/4in", "1/2 to 1-1/4 inch dies"),
            ("1/2-2in", "1/2 to 2 inch dies"),
        ),
        140.0,
        1.3,
        "NPT dies, carrying case",
        uom="KT",
    ),
    Family(
        "hand tools",
        "hex key set",
        materials(("alloy steel", 1.0), ("ball end alloy steel", 1.3)),
        sizes(("9 piece metric", "9 piece, 1.5 to 10 mm"), ("13 piece inch", "13 piece, 0.050 to 3/8 inch")),
        9.0,
        1.2,
        "long arm, in a holder",
        uom="KT",
    ),
    Family(
        "safety",
        "nitrile disposable gloves",
        materials(
            ("4 mil", 1.0, "powder free"),
            ("6 mil", 1.4, "powder free, extended cuff"),
            ("8 mil", 1.8, "chemical splash rated"),
        ),
        GLOVES,
        6.5,
        1.0,
        "textured fingertips",
        uom="BX",
        pack="box of 100",
    ),
    Family(
        "safety",
        "cut-resistant gloves",
        materials(("ANSI A4", 1.0, "HPPE shell, nitrile palm"), ("ANSI A6", 1.6, "steel core yarn, nitrile palm")),
        GLOVES,
        4.5,
        1.0,
        "touchscreen compatible",
        uom="PR",
    ),
    Family(
        "safety",
        "safety glasses",
        materials(
            ("clear lens", 1.0),
            ("smoke lens", 1.0, "for outdoor work"),
            ("amber lens", 1.05, "for low light"),
            ("anti-fog clear lens", 1.3),
        ),
        plain("standard fit", "wide fit"),
        2.2,
        1.1,
        "ANSI Z87.1+ impact rated, wraparound",
    ),
    Family(
        "safety",
        "hard hat",
        materials(("white", 1.0), ("yellow", 1.0), ("orange", 1.0), ("blue", 1.0)),
        plain("cap style", "full brim"),
        9.0,
        1.25,
        "type I class E, 4-point ratchet suspension",
    ),
    Family(
        "safety",
        "hi-vis safety vest",
        materials(("ANSI class 2", 1.0, "mesh"), ("ANSI class 3", 1.6, "with sleeves")),
        VESTS,
        4.0,
        1.05,
        "fluorescent lime, reflective tape",
    ),
    Family(
        "safety",
        "N95 respirator",
        materials(("cup style", 1.0), ("cup style with valve", 1.4), ("flat fold", 1.1)),
        plain("regular", "small"),
        14.0,
        1.0,
        "NIOSH approved",
        uom="BX",
        pack="box of 20",
    ),
    Family(
        "safety",
        "foam ear plugs",
        materials(("uncorded", 1.0, "NRR 32 dB"), ("corded", 1.7, "NRR 29 dB")),
        plain("one size"),
        16.0,
        1.0,
        "individually wrapped pairs",
        uom="BX",
        pack="box of 200",
    ),
    Family(
        "electrical",
        "THHN copper wire",
        materials(("black", 1.0), ("white", 1.0), ("red", 1.0), ("green", 1.0)),
        AWG,
        48.0,
        1.55,
        "stranded, 600V, nylon jacket",
        uom="RL",
        pack="500ft reel",
    ),
    Family(
        "electrical",
        "EMT conduit",
        materials(("galvanized steel", 1.0), ("aluminum", 1.8)),
        inches("1/2", "3/4", "1", "1-1/4", "1-1/2", "2"),
        5.0,
        1.45,
        "UL listed",
        pack="10ft length",
    ),
    Family(
        "electrical",
        "circuit breaker",
        materials(("1-pole", 1.0, "120V"), ("2-pole", 2.1, "240V"), ("1-pole GFCI", 4.5, "120V, ground fault")),
        AMPS,
        7.5,
        1.15,
        "plug-on, 10kA interrupting",
    ),
    Family(
        "electrical",
        "GFCI receptacle",
        materials(("white", 1.0), ("ivory", 1.0), ("tamper resistant white", 1.15)),
        plain("15A", "20A"),
        11.0,
        1.15,
        "self-test, with wall plate",
    ),
    Family(
        "electrical",
        "LED high bay light",
        materials(("UFO style", 1.0), ("linear", 1.2)),
        WATTS,
        68.0,
        1.3,
        "5000K, 0-10V dimming, 120-277V",
    ),
    Family(
        "electrical",
        "nylon cable ties",
        materials(("natural", 1.0), ("UV black", 1.3, "for outdoor use")),
        sizes(
            ("4in", "4 inch, 18 lb"), ("8in", "8 inch, 50 lb"), ("11in", "11 inch, 50 lb"), ("14in", "14 inch, 120 lb")
        ),
        2.0,
        1.45,
        "nylon 6/6",
        uom="BX",
        pack="pack of 100",
    ),
    Family(
        "HVAC",
        "pleated air filter",
        materials(("MERV 8", 1.0), ("MERV 11", 1.35), ("MERV 13", 1.7)),
        FILTERS,
        24.0,
        1.12,
        "synthetic media, beverage board frame",
        uom="CS",
        pack="case of 12",
    ),
    Family(
        "HVAC",
        "condensate pump",
        materials(("115V", 1.0), ("230V", 1.1)),
        plain("1/30hp", "1/15hp"),
        52.0,
        1.3,
        "with safety switch, 20ft tubing",
    ),
    Family(
        "HVAC",
        "run capacitor",
        materials(("round", 1.0), ("oval", 1.05)),
        CAPACITORS,
        7.0,
        1.12,
        "370/440VAC, dual section",
    ),
    Family(
        "HVAC",
        "thermostatic expansion valve",
        materials(("R-410A", 1.0), ("R-22", 0.95), ("R-32", 1.1)),
        TONS,
        38.0,
        1.12,
        "externally equalized, sweat connections",
    ),
    Family(
        "HVAC",
        "insulated flexible duct",
        materials(("R6", 1.0), ("R8", 1.25)),
        inches("4", "6", "8", "10", "12"),
        26.0,
        1.22,
        "silver jacket",
        uom="RL",
        pack="25ft length",
    ),
    Family(
        "HVAC",
        "refrigerant",
        materials(("R-410A", 1.0), ("R-32", 0.9), ("R-134a", 1.1)),
        sizes(("25lb cylinder", "25 lb returnable cylinder"), ("11lb cylinder", "11 lb cylinder")),
        140.0,
        0.5,
        "AHRI 700 purity",
    ),
    Family(
        "instrumentation",
        "pressure gauge",
        materials(
            ("stainless steel", 1.0, "glycerin filled, 2-1/2in dial"),
            ("brass internals", 0.6, "dry, 2-1/2in dial"),
            ("stainless steel 4in dial", 1.8, "glycerin filled"),
        ),
        GAUGE_RANGES,
        9.0,
        1.04,
        "1/4in NPT bottom connection",
    ),
    Family(
        "instrumentation",
        "bimetal thermometer",
        materials(("stainless steel", 1.0)),
        sizes(
            ("3in dial 2-1/2in stem", "3 inch dial, 2-1/2 inch stem"),
            ("5in dial 4in stem", "5 inch dial, 4 inch stem"),
            ("5in dial 9in stem", "5 inch dial, 9 inch stem"),
        ),
        16.0,
        1.3,
        "0 to 250F, every angle",
    ),
    Family(
        "instrumentation",
        "pressure switch",
        materials(("adjustable", 1.0), ("differential", 1.6)),
        GAUGE_RANGES[:4],
        34.0,
        1.1,
        "SPDT, NEMA 4 enclosure",
    ),
    Family(
        "sealants & adhesives",
        "PTFE thread seal tape",
        materials(("white", 1.0, "single density"), ("yellow gas line", 1.4), ("pink high density", 1.3)),
        sizes(
            ("1/2in x 520in", "1/2 inch by 520 inch"),
            ("3/4in x 520in", "3/4 inch by 520 inch"),
            ("1in x 520in", "1 inch by 520 inch"),
        ),
        0.5,
        1.4,
        "for threaded pipe joints",
        uom="RL",
    ),
    Family(
        "sealants & adhesives",
        "pipe thread sealant",
        materials(("PTFE paste", 1.0), ("anaerobic", 2.4, "for metal pipe up to 3in")),
        TUBE_CAPS,
        4.0,
        1.6,
        "with brush-top cap",
    ),
    Family(
        "sealants & adhesives",
        "PVC solvent cement",
        materials(("regular body clear", 1.0), ("medium body grey", 1.1), ("CPVC orange", 1.3)),
        TUBE_CAPS,
        3.2,
        1.6,
        "low VOC",
    ),
    Family(
        "sealants & adhesives",
        "silicone sealant",
        materials(("clear", 1.0), ("white", 1.0), ("high-temperature red", 1.8)),
        plain("10oz cartridge", "2.8oz tube"),
        3.8,
        0.45,
        "100% silicone",
    ),
)

# Pinned SKUs: scenarios, tests and the assistant's examples name these; V-220 and V-240 stand in for V-200.
ANCHORS = (
    Anchor("V-200", "ball valve", "brass", "3/4in", 12.0),
    Anchor("V-210", "ball valve", "brass", "1/2in", 6.0),
    Anchor("V-220", "ball valve", "lead-free brass", "3/4in", 4.0),
    Anchor("V-230", "ball valve", "brass", "1in", 4.0),
    Anchor("V-240", "ball valve", "stainless steel", "3/4in", 2.0),
    Anchor("V-300", "gate valve", "bronze", "1in", 3.0),
    Anchor("FT-200", "90 degree elbow", "brass", "3/4in", 6.0),
    Anchor("FT-210", "tee", "brass", "3/4in", 4.0),
    Anchor("P-100", "centrifugal pump", "cast iron", "1hp", 3.0),
    Anchor("F-300", "hex bolt", "zinc-plated steel", "M8 x 40mm", 6.0),
    Anchor("G-100", "spiral wound gasket", "316 stainless / graphite", "2in", 3.0),
    Anchor("S-100", "nitrile disposable gloves", "4 mil", "size L", 8.0),
    Anchor("H-100", "pleated air filter", "MERV 13", "20x20x1", 5.0),
)
ANCHOR_POPULARITY = 0.4  # an anchor's boost times this: V-200 sells about as much as the top few percent
BRANDS = (
    "Northwind",
    "Apex",
    "Keystone",
    "Meridian",
    "Ironclad",
    "Bluewater",
    "Granite",
    "Falcon",
    "Harbor",
    "Pioneer",
)


@dataclass(frozen=True)
class Combo:
    family: Family
    material: Material
    size: Size
    rank: float  # how common the combination is, before noise


def _combos(family: Family, family_rank: int) -> Iterator[Combo]:
    mode = len(family.sizes) // 3
    for m, material in enumerate(family.materials):
        for s, size in enumerate(family.sizes):
            rank = 1 / (1 + 0.35 * family_rank) / (1 + 0.6 * m) / (1 + 0.5 * abs(s - mode))
            yield Combo(family, material, size, rank)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _money(value: float) -> Decimal:
    return max(Decimal(str(round(value, 2))), Decimal("0.05"))


def describe(combo: Combo, brand: str = "") -> tuple[str, str]:
    """(name, description) of one catalogue combination, optionally of a brand's line."""
    family, material, size = combo.family, combo.material, combo.size
    core = " ".join(part for part in (material.name, family.kind, size.label) if part)
    pack = f", {family.pack}" if family.pack else ""
    name = _sentence(f"{brand} {core}" if brand else core) + pack
    notes = ", ".join(part for part in (size.words, family.detail, material.note) if part)
    line = f" {brand} product line." if brand else ""
    return (
        name,
        f"{_sentence(material.name + ' ' + family.kind if material.name else family.kind)}, {notes}{pack}.{line}",
    )


def _catalog_item(rng: random.Random, combo: Combo, sku: str, brand: str, popularity: float) -> CatalogItem:
    family = combo.family
    size_index = family.sizes.index(combo.size)
    brand_factor = 1.0 if not brand else rng.uniform(0.85, 1.25)
    cost = family.base_cost * family.step**size_index * combo.material.factor * brand_factor * rng.uniform(0.93, 1.07)
    category = CATEGORY[family.category]
    name, description = describe(combo, brand)
    return CatalogItem(
        sku=sku,
        name=name,
        description=description,
        category=family.category,
        uom=family.uom,
        standard_cost=_money(cost),
        list_price=_money(cost * category.markup * rng.uniform(0.95, 1.08)),
        group=f"{family.kind}|{combo.size.label}|{family.pack}",
        popularity=popularity,
    )


def _anchor_combo(anchor: Anchor) -> Combo:
    return next(
        Combo(family, material, size, 1.0)
        for family in FAMILIES
        for material in family.materials
        for size in family.sizes
        if (family.kind, material.name, size.label) == (anchor.kind, anchor.material, anchor.size)
    )


def _category_counts(total: int) -> dict[str, int]:
    """Items per category, proportional to the shares and summing exactly to `total`."""
    weight = sum(c.share for c in CATEGORIES)
    exact = {c.name: total * c.share / weight for c in CATEGORIES}
    counts = {name: int(value) for name, value in exact.items()}
    by_remainder = sorted(exact, key=lambda name: (counts[name] - exact[name], name))
    for name in by_remainder[: total - sum(counts.values())]:
        counts[name] += 1
    return counts


class SkuBook:
    """Hands out SKUs per prefix in steps of ten ("V-100", "V-110", ...), skipping pinned ones."""

    def __init__(self, pinned: set[str]) -> None:
        self.pinned = pinned
        self.next: dict[str, int] = {}

    def take(self, prefix: str) -> str:
        number = self.next.get(prefix, 10)
        while f"{prefix}-{number * 10}" in self.pinned:
            number += 1
        self.next[prefix] = number + 1
        return f"{prefix}-{number * 10}"


def _category_items(
    rng: random.Random, category: Category, count: int, skus: SkuBook, pinned: set[str]
) -> list[CatalogItem]:
    families = [f for f in FAMILIES if f.category == category.name]
    combos = [c for rank, family in enumerate(families) for c in _combos(family, rank)]
    rng.shuffle(combos)
    items: list[CatalogItem] = []
    line = 0
    while len(items) < count:
        brand = "" if line == 0 else f"{BRANDS[(line - 1) % len(BRANDS)]} {(line - 1) // len(BRANDS) + 1}00-series"
        for combo in combos:
            if len(items) == count:
                break
            if not brand and describe(combo)[0] in pinned:
                continue
            popularity = combo.rank * rng.lognormvariate(0, 0.9) * (0.5 if brand else 1.0)
            items.append(_catalog_item(rng, combo, skus.take(category.prefix), brand, popularity))
        line += 1
    return items


def build_catalog(rng: random.Random, count: int) -> list[CatalogItem]:
    """`count` items: the pinned anchors first, then every category in proportion to its share."""
    anchors = [_catalog_item(rng, _anchor_combo(a), a.sku, "", a.boost * ANCHOR_POPULARITY) for a in ANCHORS]
    pinned_names = {item.name for item in anchors}
    skus = SkuBook({a.sku for a in ANCHORS})
    counts = _category_counts(count - len(anchors))
    generated = [item for c in CATEGORIES for item in _category_items(rng, c, counts[c.name], skus, pinned_names)]
    return anchors + generated
