"""Accounts payable: supplier invoices with a three-way match, and what the group owes its suppliers."""
