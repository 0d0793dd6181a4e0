"""Notebook code execution on the server: namespace, persistence, rich display, endpoint."""
