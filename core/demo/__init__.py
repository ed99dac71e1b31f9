"""The demo company: a deterministic, realistic distributor to run, test and benchmark the product on."""

from core.demo.generator import DemoConfig, DemoSummary, load_demo
from core.demo.logins import DemoLogin, assign_demo_passwords, demo_logins, read_demo_logins, write_demo_logins

__all__ = [
    "DemoConfig",
    "DemoLogin",
    "DemoSummary",
    "assign_demo_passwords",
    "demo_logins",
    "load_demo",
    "read_demo_logins",
    "write_demo_logins",
]
