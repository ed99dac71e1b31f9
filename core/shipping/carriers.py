"""Carrier names as people write them: "UPS Ground" is the carrier UPS with the service level Ground.

A shipment keeps the carrier and its service level apart (reports group by carrier). When only a
carrier is given and it starts with a known carrier's name followed by more words, the rest is the
service level. An unknown carrier is kept as written.
"""

KNOWN_CARRIERS = (
    "Royal Mail",
    "Canada Post",
    "Parcelforce",
    "FedEx",
    "UPS",
    "USPS",
    "DHL",
    "DPD",
    "GLS",
    "TNT",
    "OnTrac",
    "Purolator",
    "Evri",
    "Yodel",
    "SingPost",
    "Ninja Van",
    "XPO",
    "Old Dominion",
    "Estes",
    "Saia",
)


def split_carrier(carrier: str, service_level: str) -> tuple[str, str]:
    """(carrier, service level), with a service level named inside the carrier moved out when none was given."""
    carrier, service_level = carrier.strip(), service_level.strip()
    if service_level or not carrier:
        return carrier, service_level
    for known in sorted(KNOWN_CARRIERS, key=len, reverse=True):
        head, rest = carrier[: len(known)], carrier[len(known) :]
        if head.casefold() == known.casefold() and rest[:1] in (" ", "-", "/") and rest.strip(" -/"):
            return known, rest.strip(" -/")
    return carrier, service_level
