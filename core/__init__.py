"""Deterministic ERP core: master data, stock, orders, transfers, purchasing, finance."""
