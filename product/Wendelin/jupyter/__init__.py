"""Notebook code execution on the server: namespace, persistence, rich display, endpoint."""


def install_process_hooks() -> None:
    """Once per process, at product start-up: the context-dispatching stdout/stderr and
    Wendelin's matplotlib backend, so request code never changes process-wide state."""
    from .capture import install
    from .execution import ensure_backend

    install()
    ensure_backend()
    declare_public_api()


def declare_public_api() -> None:
    """Skin scripts may call the interrupt endpoint (it checks its own permission)."""
    from AccessControl.SecurityInfo import ModuleSecurityInfo

    ModuleSecurityInfo("Products.Wendelin.jupyter.endpoint").declarePublic("interrupt_jupyter")
