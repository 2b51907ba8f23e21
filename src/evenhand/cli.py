"""The ``evenhand`` command line.

Sub-commands live in :mod:`evenhand._cli`, one module each, every one exposing
``register(app)``; they are discovered here so adding a command touches no shared file.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from evenhand._core._errors import EvenhandError

__all__ = ["app", "main"]

app = typer.Typer(
    name="evenhand",
    help="Fairness audits with confidence intervals, and the tools to act on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    from evenhand import _cli

    for info in sorted(pkgutil.iter_modules(_cli.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"evenhand._cli.{info.name}")
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a bad input exits with code 2 and one line naming the problem."""
    try:
        app(args=argv, standalone_mode=False)
    except EvenhandError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except FileNotFoundError as exc:
        typer.echo(f"error: file not found: {exc.filename}. Check the path.", err=True)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return 130
    except Exception as exc:  # click's usage errors carry their own exit code
        code = getattr(exc, "exit_code", None)
        if code is None:
            raise
        if hasattr(exc, "show"):
            exc.show()
        return int(code)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
