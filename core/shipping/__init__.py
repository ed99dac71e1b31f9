"""Fulfilment of sales orders: shipments from one warehouse each, how they travel, and their milestones."""
