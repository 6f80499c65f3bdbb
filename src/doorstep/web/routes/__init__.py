"""API routes: each parses, calls a service and renders."""
