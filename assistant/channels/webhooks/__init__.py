"""Webhooks out: the HTTP poster the core's delivery pass uses, and the delivery loop of the service and the CLI."""
