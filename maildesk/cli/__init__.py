"""The ``maildesk`` command line (SPEC section 2): one module per command group."""

from maildesk.cli.main import main

__all__ = ["main"]
