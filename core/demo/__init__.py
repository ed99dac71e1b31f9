"""The demo company: a deterministic, realistic distributor to run, test and benchmark the product on."""

from core.demo.generator import DemoConfig, DemoSummary, load_demo

__all__ = ["DemoConfig", "DemoSummary", "load_demo"]
