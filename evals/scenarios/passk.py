"""pass^k as tau-bench estimates it: the chance that k independent trials of a task all pass."""

from math import comb


def pass_hat_k(outcomes: list[tuple[int, int]], k: int) -> float:
    """Mean over tasks of C(c, k) / C(n, k), where a task ran n trials and c of them passed (needs n >= k)."""
    if not outcomes:
        return 0.0
    if any(n < k for n, _ in outcomes):
        raise ValueError(f"pass^{k} needs at least {k} trials of every task")
    return sum(comb(c, k) / comb(n, k) for n, c in outcomes) / len(outcomes)
