"""Scenario evaluation: user goals run through the assistant, judged by the database state they leave."""
