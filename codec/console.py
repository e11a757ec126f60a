"""What every command-line entry point shares: errors as one line on stderr with exit
status 1, warnings as one line too."""
import functools
import sys
import warnings

import typer

from .errors import DCNError


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"dcn: warning: {message}", file=sys.stderr)


def _line(text: str) -> str:
    """One line, whatever a path holds."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def user_errors(fn):
    """Turn DCNError (and I/O errors) into a one-line message and exit status 1."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        warnings.showwarning = _show_warning
        try:
            return fn(*args, **kwargs)
        except DCNError as exc:
            typer.echo(f"dcn: error: {_line(str(exc))}", err=True)
            raise typer.Exit(1)
        except OSError as exc:
            typer.echo(f"dcn: error: {_line(str(exc.filename or ''))}: {exc.strerror or exc}", err=True)
            raise typer.Exit(1)
        except KeyboardInterrupt:
            typer.echo("dcn: interrupted", err=True)
            raise typer.Exit(130)
    return wrapper
