"""drafts (issue 3)."""
