"""ABC classes: items ranked by the value they sell, A the few that make most of it.

A key is in class A while the keys before it (by value, highest first) make less than `a_share` of the
total value; B up to `b_share`; C the rest. A key that sold nothing is C.
"""

from collections.abc import Mapping
from typing import TypeVar

K = TypeVar("K")

A_SHARE = 0.80
B_SHARE = 0.95


def abc_classes(values: Mapping[K, float], a_share: float = A_SHARE, b_share: float = B_SHARE) -> dict[K, str]:
    """The class of each key from its value (units sold x unit cost, say), ties broken by the key's order."""
    if not 0 < a_share <= b_share <= 1:
        raise ValueError(f"the shares must satisfy 0 < a_share <= b_share <= 1, not {a_share}, {b_share}")
    total = sum(v for v in values.values() if v > 0)
    classes: dict[K, str] = {}
    before = 0.0
    for key, value in sorted(values.items(), key=lambda kv: -kv[1]):
        if value <= 0 or total <= 0:
            classes[key] = "C"
            continue
        share = before / total
        classes[key] = "A" if share < a_share else "B" if share < b_share else "C"
        before += value
    return classes
