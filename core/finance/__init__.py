"""Finance, minimal and real: invoices, credit notes, credit exposure, margins, intercompany.

Payments and what customers owe live in core.receivables."""
