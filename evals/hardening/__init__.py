"""Reliability and security hardening: runs that try to break the core and check what they leave."""
