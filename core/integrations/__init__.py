"""Documents in: what other systems send (orders, shipments, receipts) taken through the write gate, once per key."""
