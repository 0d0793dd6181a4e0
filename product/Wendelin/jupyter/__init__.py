"""Notebook code execution on the server: namespace, persistence, rich display, endpoint."""


def install_process_hooks() -> None:
    """Once per process, at product start-up: the context-dispatching stdout/stderr and
    Wendelin's matplotlib backend, so request code never changes process-wide state."""
    from .capture import install
    from .execution import ensure_backend

    install()
    ensure_backend()
