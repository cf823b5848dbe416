"""The ``cropseg`` command line."""

from __future__ import annotations

import click

from cropseg import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cropseg")
def main() -> None:
    """Crop / non-crop segmentation of Planet scenes into class maps and GeoJSON field boundaries."""


if __name__ == "__main__":  # pragma: no cover
    main()
