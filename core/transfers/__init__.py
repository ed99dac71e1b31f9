"""Transfers between warehouses of one entity and, at a transfer price, between entities."""
