"""Finance, minimal and real: invoices, payments, receivables, credit exposure, intercompany."""
