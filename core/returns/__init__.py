"""Returns (RMA): a return authorised against shipped order lines, received back (restock or scrap) and credited."""
