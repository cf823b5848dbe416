"""``cropseg search``, ``cropseg order`` and ``cropseg download``: the Planet commands.

Registered on the main ``cropseg`` group in :mod:`cropseg.cli`. Credentials come from the
SDK's lookup (``PL_API_KEY`` or a ``planet auth login`` profile), never from the command
line, so keys stay out of shell history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from cropseg._io import atomic_path
from cropseg.errors import CropsegError
from cropseg.planet._client import connect
from cropseg.planet.order import OrderResult, download, order
from cropseg.planet.search import search

__all__ = ["search_command", "order_command", "download_command"]

_base_url = click.option(
    "--base-url", envvar="CROPSEG_PLANET_BASE_URL", default=None, show_envvar=True,
    help="Planet API root (default https://api.planet.com).",
)


@contextmanager
def _as_click_errors() -> Iterator[None]:
    try:
        yield
    except CropsegError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("search")
@click.argument("aoi", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--start", required=True, help="First acquisition date, e.g. 2023-05-01.")
@click.option("--end", required=True, help="Last acquisition date (inclusive), e.g. 2023-09-30.")
@click.option("--max-cloud", type=float, default=0.1, show_default=True, help="Highest cloud_cover (0-1).")
@click.option("--min-coverage", type=float, default=0.0, show_default=True,
              help="Drop scenes covering less of the AOI than this fraction (0-1).")
@click.option("--item-type", "item_types", multiple=True, default=("PSScene",), show_default=True)
@click.option("--instrument", "instruments", multiple=True, help="e.g. PSB.SD; repeat for several.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many scenes.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the scenes as GeoJSON here instead of printing a table.")
@_base_url
def search_command(aoi: Path, start: str, end: str, max_cloud: float, min_coverage: float,
                   item_types: tuple[str, ...], instruments: tuple[str, ...], limit: int | None,
                   out: Path | None, base_url: str | None) -> None:
    """Find Planet scenes over the AOI file (GeoJSON, GPKG, ...) between two dates."""
    with _as_click_errors():
        client = connect(base_url=base_url)
        scenes = search(aoi, start, end, max_cloud=max_cloud, min_aoi_coverage=min_coverage,
                        item_types=item_types, instruments=instruments or None, limit=limit,
                        client=client)
        if out is not None:
            with atomic_path(out, "--out") as tmp:
                scenes.to_file(tmp, driver="GeoJSON")
            click.echo(f"{len(scenes)} scenes written to {out}")
            return
    table = scenes.drop(columns="geometry")
    click.echo(table.to_string(index=False) if len(table) else "no scenes found")


def _report(result: OrderResult) -> None:
    click.echo(f"order {result.order_id}: {result.state}, {len(result.downloaded)} files downloaded "
               f"to {result.directory}")
    for item_id, files in result.items.items():
        click.echo(f"  {item_id}: analytic={files.analytic} udm2={files.udm2} xml={files.metadata_xml}")


def _order_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--out", "directory", type=click.Path(file_okay=False, path_type=Path),
                     default=Path("."), show_default=True, help="Folder for the order (created if missing)."),
        click.option("--checksum", type=click.Choice(["SHA256", "MD5"], case_sensitive=False),
                     default="SHA256", show_default=True),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Stop waiting after this many seconds (default: no limit)."),
        click.option("--poll-interval", type=click.FloatRange(min=0), default=5.0, show_default=True),
        _base_url,
    ]):
        func = option(func)
    return func


@click.command("order")
@click.argument("item_ids", nargs=-1, required=True)
@click.option("--aoi", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Clip the scenes to this polygon file.")
@click.option("--bundle", default="analytic_sr_udm2", show_default=True)
@click.option("--item-type", default="PSScene", show_default=True)
@click.option("--fallback-bundle", default=None)
@click.option("--name", default=None, help="Order name.")
@_order_options
def order_command(item_ids: tuple[str, ...], aoi: Path | None, bundle: str, item_type: str,
                  fallback_bundle: str | None, name: str | None, directory: Path, checksum: str,
                  timeout: float | None, poll_interval: float, base_url: str | None) -> None:
    """Order ITEM_IDS, wait, download and verify every file."""
    with _as_click_errors():
        client = connect(base_url=base_url)
        directory.mkdir(parents=True, exist_ok=True)
        result = order(item_ids, aoi=aoi, bundle=bundle, item_type=item_type, name=name,
                       directory=directory, fallback_bundle=fallback_bundle, checksum=checksum,
                       progress=True, timeout=timeout, poll_interval=poll_interval, client=client)
    _report(result)


@click.command("download")
@click.argument("order_id")
@_order_options
def download_command(order_id: str, directory: Path, checksum: str, timeout: float | None,
                     poll_interval: float, base_url: str | None) -> None:
    """Resume an existing order: download and verify files not yet present."""
    with _as_click_errors():
        client = connect(base_url=base_url)
        directory.mkdir(parents=True, exist_ok=True)
        result = download(order_id, directory, checksum=checksum, progress=True, timeout=timeout,
                          poll_interval=poll_interval, client=client)
    _report(result)
