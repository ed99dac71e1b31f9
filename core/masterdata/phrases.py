"""How people write dates and quantities in a request: parsed to values, with where they stand in the text.

Pure text functions, no database: `core.masterdata.mentions` runs them after the record look-ups, on the
text those left over. Dates are relative to a given business day (`core.clock.today()` in the product).
"""

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# A month as written: its name or its abbreviation, a whole word ("maybe 12" is no date, nor "mark 5").
MONTH_WORD = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
SMALL = {word: n for n, word in enumerate(ONES)}
# Unit words that may follow a quantity ("40 pcs", "5 x"); sizes ("3/4 in", "20 kW") are not quantities.
COUNT_UNITS = r"x|\u00d7|\*|pcs|pc|pieces?|units?|ea|each|boxes|box|cases?|cartons?|pallets?|rolls?|packs?|bags?|sets?"
SIZE_UNITS = re.compile(
    r"\s*(?:-\s*)?(?:\"|'|%|inch|inches|mm\b|cm\b|ft\b|foot|feet|hp\b|psi|kw\b|volts?\b|amps?\b|lbs?\b|"
    r"gal\b|gpm\b|awg\b|tons?\b|ah\b|days?\b|weeks?\b|months?\b|years?\b|hours?\b|am\b|pm\b|st\b|nd\b|rd\b|th\b|/|\.\d)",
    re.IGNORECASE,
)

# A size written in a text, as in an item's name ("Brass ball valve 3/4in", "1 inch", "1-1/2\""): no count, no figure.
SIZE = re.compile(
    r"(?<![\w.])\d+(?:[-\s]\d+)?/\d+(?:\s?(?:in|inch|inches|mm|cm|ft)\b|\"|(?![\w/]))"
    r"|(?<![\w.])\d+(?:\.\d+)?(?:in\b|\s?(?:inch|inches|mm|cm|ft)\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Found:
    """A date or quantity found in a text: its span and its value (a date range has an end)."""

    start: int
    end: int
    first: date | None = None
    last: date | None = None
    number: int | None = None
    unit: str = ""
    weak: bool = False  # "a", "one": a count only when an item follows ("one X-900"), not in "the one in Dallas"


def _next_weekday(today: date, weekday: int) -> date:
    """The first such weekday strictly after today ("Friday" said on a Friday is next week's)."""
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _in_year(today: date, month: int, day: int, year: int | None) -> date | None:
    """A month and day without a year is this year's, or next year's when this year's is long past."""
    try:
        found = date(year or today.year, month, day)
    except ValueError:
        return None
    if year is None and found < today - timedelta(days=90):
        found = found.replace(year=found.year + 1)
    return found


_NUMBER = r"\d{1,4}|" + "|".join(list(ONES[1:]) + list(TENS))
_DATE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), "iso"),
    (re.compile(r"\b(today|tonight|now)\b", re.I), "today"),
    (re.compile(r"\btomorrow\b", re.I), "tomorrow"),
    (re.compile(r"\byesterday\b", re.I), "yesterday"),
    (re.compile(r"\b(?:(?:this|next|coming)\s+)?(" + "|".join(WEEKDAYS) + r")\b", re.I), "weekday"),
    (re.compile(r"\b(next|this)\s+week\b", re.I), "week"),
    (re.compile(r"\bnext\s+month\b", re.I), "next_month"),
    (re.compile(r"\blast\s+month\b", re.I), "last_month"),
    (re.compile(r"\b(?:this\s+month|month\s+to\s+date|mtd)\b", re.I), "this_month"),
    (re.compile(r"\blast\s+week\b", re.I), "last_week"),
    (re.compile(rf"\b(?:last|past)\s+({_NUMBER})\s+days\b", re.I), "last_days"),
    (re.compile(r"\b(?:(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?month|month[-\s]end)\b", re.I), "month_end"),
    (re.compile(r"\b(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?week\b", re.I), "week_end"),
    (re.compile(rf"\bin\s+(a|{_NUMBER})\s+(days?|weeks?)\b", re.I), "in"),
    (
        re.compile(r"\b" + MONTH_WORD + r"\b\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4})\b)?", re.I),
        "month_day",
    ),
    (
        re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + MONTH_WORD + r"\b(?:,?\s+(\d{4}))?", re.I),
        "day_month",
    ),
]


def _date_of(kind: str, match: re.Match[str], today: date) -> tuple[date, date] | None:
    """The first and last day a date phrase means, or None when it is no real date."""
    groups = match.groups()
    if kind == "iso":
        try:
            day = date(int(groups[0]), int(groups[1]), int(groups[2]))
        except ValueError:
            return None
        return day, day
    if kind in ("today", "tomorrow", "yesterday"):
        day = today + timedelta(days={"today": 0, "tomorrow": 1, "yesterday": -1}[kind])
        return day, day
    if kind == "weekday":
        day = _next_weekday(today, WEEKDAYS.index(groups[0].lower()))
        return day, day
    if kind == "week":
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=1 if groups[0].lower() == "next" else 0)
        return max(monday, today), monday + timedelta(days=6)
    if kind == "next_month":
        first = _month_end(today) + timedelta(days=1)
        return first, _month_end(first)
    if kind == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if kind == "this_month":
        return today.replace(day=1), today
    if kind == "last_week":
        monday = today - timedelta(days=today.weekday() + 7)
        return monday, monday + timedelta(days=6)
    if kind == "last_days":
        count = number_of(groups[0])
        return (today - timedelta(days=count), today) if count else None
    if kind == "month_end":
        return _month_end(today), _month_end(today)
    if kind == "week_end":
        friday = today + timedelta(days=(4 - today.weekday()) % 7)
        return friday, friday
    if kind == "in":
        count = 1 if groups[0].lower() == "a" else number_of(groups[0])
        if count is None:
            return None
        day = today + timedelta(days=count * (7 if groups[1].lower().startswith("week") else 1))
        return day, day
    month_text, day_text = (groups[0], groups[1]) if kind == "month_day" else (groups[1], groups[0])
    found = _in_year(today, MONTHS.index(month_text[:3].lower()) + 1, int(day_text), _year(groups[2]))
    return (found, found) if found else None


def _year(text: str | None) -> int | None:
    return int(text) if text else None


def find_dates(text: str, today: date) -> list[Found]:
    """Every date phrase in `text`, longest first where two overlap."""
    found: list[Found] = []
    for pattern, kind in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            span = _date_of(kind, match, today)
            if span is not None:
                found.append(Found(match.start(), match.end(), first=span[0], last=span[1]))
    return _without_overlaps(found)


def _without_overlaps(found: list[Found]) -> list[Found]:
    kept: list[Found] = []
    for item in sorted(found, key=lambda f: (f.start, -(f.end - f.start))):
        if not any(item.start < k.end and k.start < item.end for k in kept):
            kept.append(item)
    return kept


def number_of(text: str) -> int | None:
    """A whole number written in digits ("1,200") or words ("forty-five", "a dozen", "two hundred")."""
    words = text.lower().replace("-", " ").split()
    if not words:
        return None
    if len(words) == 1 and re.fullmatch(r"\d{1,3}(?:,\d{3})+|\d+", words[0]):
        return int(words[0].replace(",", ""))
    total, current = 0, 0
    for word in words:
        if word in ("a", "an") and current == 0:
            current = 1
        elif word.isdigit() and current == 0:
            current = int(word)
        elif word in SMALL:
            current += SMALL[word]
        elif word in TENS:
            current += TENS[word]
        elif word == "dozen":
            current = (current or 1) * 12
        elif word == "hundred":
            current = (current or 1) * 100
        elif word == "thousand":
            total, current = total + (current or 1) * 1000, 0
        elif word != "and":
            return None
    return total + current or None


_WORD_NUMBER = (
    r"(?:(?:a|an|" + "|".join(ONES[1:]) + "|" + "|".join(TENS) + r")(?:[\s-](?:" + "|".join(ONES[1:10]) + r"))?"
    r"(?:\s+(?:dozen|hundred|thousand))?|dozen)"
)
_QUANTITY = re.compile(
    rf"(?<![\w./#-])(?P<n>\d{{1,3}}(?:,\d{{3}})+|\d+(?:\s+dozen)?|{_WORD_NUMBER})"
    rf"(?:(?P<unit>\s*(?:{COUNT_UNITS}))(?![\w-])|(?![\w/]|\.\d))",
    re.IGNORECASE,
)
_NOT_A_QUANTITY_BEFORE = re.compile(r"(?:line|lines|no\.?|number|#|top|step|version|v|id)\s*$", re.IGNORECASE)
# A fraction after the number ("two and a half", "3 1/2 boxes", "2½"): no whole count, so none is taken from it.
_FRACTION_NEXT = re.compile(
    r"\s*(?:[\u00bc-\u00be\u2150-\u215e]|\s(?:and\s+)?(?:an?\s+)?(?:half|quarter|third)s?\b|\s\d+/\d+)"
)
# A SKU right after the number ("10 FT-200", "5 HP-30"): its letters are no size unit (feet, horsepower).
_SKU_NEXT = re.compile(r"\s*[A-Za-z]{1,4}-\d")


MIXED_WHOLE_MAX = 12  # "1 1/2", "2 1/2": a size's whole part is small; "50 3/4in valves" are fifty of them


def _mixed_size(written: str, fraction: re.Match[str] | None) -> bool:
    """Whether a number followed by a fraction is the whole part of one size ("1 1/2in", "two and a half"), not a
    count of items of that size ("fifty 3/4in brass ball valves", "order 50 3/4in valves", "five 1/2in valves": a
    size is written in digits)."""
    if fraction is None or (not written[0].isdigit() and re.search(r"\d", fraction.group())):
        return False
    return (number_of(written) or 0) <= MIXED_WHOLE_MAX


def find_quantities(text: str) -> Iterator[Found]:
    """Counts of things in `text` ("40", "40 pcs", "5 x", "forty", "a dozen"), skipping sizes ("3/4 in", "20 kW")
    and line numbers ("line 2"); "a" and "one" come marked weak: a count only before an item."""
    for match in _QUANTITY.finditer(text):
        written, unit = match.group("n"), (match.group("unit") or "").strip().lower()
        if SIZE_UNITS.match(text, match.end("n")) and not unit and not _SKU_NEXT.match(text, match.end("n")):
            continue
        if _NOT_A_QUANTITY_BEFORE.search(text, 0, match.start()) or (
            not unit and _mixed_size(written, _FRACTION_NEXT.match(text, match.end()))
        ):
            continue
        weak = not written[0].isdigit() and not unit and written.lower() in ("a", "an", "one", "dozen")
        number = number_of(written)
        if number is not None:
            unit = "x" if unit in ("\u00d7", "*") else unit
            yield Found(match.start(), match.end(), number=number, unit=unit, weak=weak)
