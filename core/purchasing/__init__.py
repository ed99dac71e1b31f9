"""Purchasing: purchase orders whose lines are dated incoming supply until received."""
