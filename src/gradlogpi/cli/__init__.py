"""The `gradlogpi` command (typer): a thin layer over functions a user can call."""

from gradlogpi.cli.app import app, main

__all__ = ["app", "main"]
