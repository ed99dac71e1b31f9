"""Receivables: customer payments (PAY-), their application to invoices, unapplied cash, reversals, ageing."""
