"""Stock: the append-only ledger, balances, reservations, dated incoming supply, ATP."""
