"""Master data: legal entities, warehouses, items, customers, suppliers, prices, users, rates."""
