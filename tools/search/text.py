"""How item text is matched word for word: sizes and units spelled one way, words lightly stemmed.

"three-quarter inch", "3/4 inch", '3/4"' and "0.75 in" all become the token `3/4in`, as the
catalogue writes it in names; "one horsepower" becomes `1hp`, "12 gauge" `12awg`.
"""

import re
from functools import lru_cache

_NUMBERS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "fourteen": "14",
    "sixteen": "16",
    "eighteen": "18",
    "twenty": "20",
    "twenty-four": "24",
    "thirty": "30",
    "thirty-six": "36",
    "forty": "40",
    "forty-eight": "48",
    "fifty": "50",
    "sixty": "60",
    "hundred": "100",
}
_NUMBER = "|".join(sorted(_NUMBERS, key=len, reverse=True))
_UNIT_AHEAD = (
    r"(?=[\s-]*(?:inch|in\b|\"|foot|feet|ft\b|hp\b|horse|ton|amp|watt|pound|lb|gauge|awg|mil\b|mm\b|milli"
    r"|ounce|oz\b|psi|piece|and a))"
)
_FRACTIONS = (
    (r"\b(?:an?\s+|one\s+)?inch(?:es)? and a half\b", "1-1/2 inch"),
    (r"\b(?:an?\s+|one\s+)?inch(?:es)? and a quarter\b", "1-1/4 inch"),
    (r"\b(\d+)(?:\s+and\s+a\s+|\s*-\s*and\s*-\s*a\s*-\s*)half\b", r"\1-1/2"),
    (r"\b(\d+)(?:\s+and\s+a\s+|\s*-\s*and\s*-\s*a\s*-\s*)quarter\b", r"\1-1/4"),
    (r"\bthree[\s-]+quarters?\b(?![\s-]+turn)", "3/4"),
    (r"\bthree[\s-]+eighths?\b", "3/8"),
    (r"\bfive[\s-]+eighths?\b", "5/8"),
    (r"\bseven[\s-]+eighths?\b", "7/8"),
    (r"\bfive[\s-]+sixteenths?\b", "5/16"),
    (r"\b(?:a\s+|one[\s-]+)?half\b(?![\s-]+turn)", "1/2"),
    (r"\b(?:a\s+|one[\s-]+)?quarter\b(?![\s-]+turn)", "1/4"),
    (r"\b(?:an\s+|one[\s-]+)?eighth\b", "1/8"),
)
_DECIMALS = {"125": "1/8", "25": "1/4", "5": "1/2", "75": "3/4"}
_SIZE = r"(\d+(?:-\d+/\d+|/\d+)?)"
_UNITS = (
    (_SIZE + r"(?:\s*|-(?=inch))(?:inches|inch|in\b|\"|”|'')", r"\1in"),  # "1-inch" too, not "2-in-1"
    (_SIZE + r"\s*(?:horsepower|horse power|hp\b)", r"\1hp"),
    (_SIZE + r"[\s-]*tons?\b", r"\1ton"),
    (r"(\d+)\s*(?:feet|foot|ft\b|')", r"\1ft"),
    (r"(\d+)\s*(?:amps?|a)\b", r"\1a"),
    (r"(\d+)\s*(?:watts?|w)\b", r"\1w"),
    (r"(\d+)\s*(?:pounds?|lbs?)\b", r"\1lb"),
    (r"(\d+)\s*(?:gauge|ga|awg)\b", r"\1awg"),
    (r"(\d+)\s*(?:millimet(?:er|re)s?|mm)\b", r"\1mm"),
    (r"(\d+)\s*(?:fl\s*)?(?:ounces?|oz)\b", r"\1oz"),
    (r"(\d+)\s*psi\b", r"\1psi"),
    (r"(\d+)\s*mil\b", r"\1mil"),
    (r"(\d+/\d+)\s*(?:mfd|microfarads?|uf)\b", r"\1mfd"),
)
STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "by", "do", "for", "from", "have", "i", "in", "is", "it", "its", "me"}
    | {"my", "need", "of", "on", "or", "our", "please", "some", "that", "the", "them", "these", "this", "to"}
    | {"want", "we", "with", "x", "you"}
)
_TOKEN = re.compile(r"[a-z0-9][a-z0-9/.\-]*[a-z0-9]|[a-z0-9]")
SIZE_TOKEN = re.compile(r"^[\d/.\-]+")


def normalize(text: str) -> str:
    """Lower case, with sizes and units written as the catalogue's names write them."""
    out = text.lower().replace("”", '"').replace("″", '"')
    out = re.sub(rf"\b({_NUMBER})\b(?=[\s-]+and[\s-]+a[\s-]+(?:half|quarter))", lambda m: _NUMBERS[m.group(1)], out)
    for pattern, replacement in _FRACTIONS:
        out = re.sub(pattern, replacement, out)
    out = re.sub(rf"\b({_NUMBER})\b{_UNIT_AHEAD}", lambda m: _NUMBERS[m.group(1)], out)
    out = re.sub(r"\b(\d+)\.(125|25|5|75)\b", _decimal, out)
    out = re.sub(r"\b(\d+)[\s-]+(\d/\d+)\b", r"\1-\2", out)
    for pattern, replacement in _UNITS:
        out = re.sub(pattern, replacement, out)
    return out


def _decimal(match: re.Match[str]) -> str:
    whole, fraction = match.group(1), _DECIMALS[match.group(2)]
    return fraction if whole == "0" else f"{whole}-{fraction}"


def stem(token: str) -> str:
    """A plural's singular, roughly: valves -> valve, boxes -> box; brass stays brass."""
    if len(token) > 4 and token.endswith(("xes", "ches", "shes")):
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us")) and not token[-2].isdigit():
        return token[:-1]
    return token


def tokens(text: str) -> list[str]:
    """The matching tokens of a text: normalized, stemmed, without stop words."""
    return [stem(t) for t in _TOKEN.findall(normalize(text)) if t not in STOPWORDS]


@lru_cache(maxsize=50_000)
def item_tokens(text: str) -> frozenset[str]:
    """An item's tokens, with the parts of hyphenated words too ("lead-free" also gives "lead", "free");
    cached, as the same item texts are scored again and again."""
    found = set(tokens(text))
    for token in list(found):
        if "-" in token and not any(c.isdigit() for c in token):
            found.update(stem(part) for part in token.split("-") if part and part not in STOPWORDS)
    return frozenset(found)


def size_core(token: str) -> str:
    """The number part of a size token (`3/4in` -> `3/4`), or '' for a word."""
    match = SIZE_TOKEN.match(token)
    return match.group(0).strip("-.") if match else ""
