"""The ``cropseg`` command line.

Exit codes: 0 success, 1 error (one line on stderr, the traceback only with ``--verbose``),
2 usage error (click's own).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from cropseg import __version__
from cropseg.planet._cli import download_command, order_command, search_command

logger = logging.getLogger(__name__)


class _Group(click.Group):
    """Click group that turns any failure into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.UsageError):
            raise
        except click.ClickException:
            if ctx.obj and ctx.obj.get("verbose"):
                logger.exception("cropseg failed")
            raise
        except Exception as exc:
            if ctx.obj and ctx.obj.get("verbose"):
                raise
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            hint = "(use --verbose for details)"
            raise click.ClickException(f"{type(exc).__name__}: {message} {hint}") from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cropseg")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details and show tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Crop / non-crop segmentation of Planet scenes into class maps and GeoJSON field boundaries."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


main.add_command(search_command)
main.add_command(order_command)
main.add_command(download_command)


if __name__ == "__main__":  # pragma: no cover
    main()
