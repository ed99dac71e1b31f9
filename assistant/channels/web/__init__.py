"""The web service: FastAPI app, routes, SSE chat turns, the widget and pages."""
