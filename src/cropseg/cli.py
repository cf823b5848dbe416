"""The ``cropseg`` command line.

Exit codes: 0 success, 1 error (one line on stderr, the traceback only with ``--verbose``),
2 usage error (click's own).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
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


_scene_arg = click.argument("scene", type=click.Path(dir_okay=False, path_type=Path))


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("cropseg-demo"),
    show_default=True,
    help="Folder for the demo's outputs.",
)
def demo(out_dir: Path) -> None:
    """Run the whole pipeline on the bundled Sacramento sample (no network needed).

    Tunes a KNN on the train scene with spatially blocked folds, segments the test scene, and writes
    field boundaries, class map, report, pictures and the model to OUT.
    """
    from cropseg.pipeline import run_demo

    result = run_demo(out_dir, progress=True, echo=click.echo)
    click.echo("")
    click.echo("Test scene, pixels against the 2015 DWR survey:")
    click.echo(result.report.text)
    click.echo(f"kappa {result.report.kappa:.3f}   crop IoU {result.report.iou['crop']:.3f}")
    click.echo(f"Done in {result.seconds['total']:.0f} s. Outputs in {out_dir}/:")
    for path in result.files.values():
        click.echo(f"  {path.name}")


@main.command()
@_scene_arg
@click.argument("ground_truth", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Model file (.npz).")
@click.option("--column", default=None, help="Attribute that says which polygons are crop (e.g. CLASS1).")
@click.option("--crop-classes", default=None, help="Comma-separated values of --column that count as crop.")
@click.option("--block-size", default=100, show_default=True, help="Spatial block side (px) for grouped folds.")
@click.option("--cv", default=5, show_default=True, help="Number of folds.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Save the k-tuning plot.")
def train(
    scene: Path,
    ground_truth: Path,
    out: Path,
    column: str | None,
    crop_classes: str | None,
    block_size: int,
    cv: int,
    plot: Path | None,
) -> None:
    """Tune and train a KNN model on SCENE labelled by GROUND_TRUTH polygons."""
    from cropseg.classify import save_model
    from cropseg.pipeline import train_model

    classes = crop_classes.split(",") if crop_classes else None
    tuning = train_model(
        scene, ground_truth, column=column, classes=classes, block_size=block_size, cv=cv, progress=True
    )
    save_model(tuning.best_estimator, out)
    if plot is not None:
        tuning.plot(plot)
    click.echo(
        f"best {tuning.best_params} ({tuning.scoring} {tuning.best_score:.3f}, {tuning.cv_kind} CV); "
        f"model saved to {out}"
    )


def _segment_options(f: Any) -> Any:
    f = click.option("--ksize", default=5, show_default=True, help="Denoising window (odd).")(f)
    f = click.option(
        "--filter",
        "filter_",
        type=click.Choice(["median", "majority", "none"]),
        default="median",
        show_default=True,
        help="Denoising filter.",
    )(f)
    f = click.option("--tile-size", default=2048, show_default=True, help="Tile side in pixels.")(f)
    return f


@main.command()
@_scene_arg
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Fields GeoJSON.")
@click.option(
    "--classes",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the class map GeoTIFF here.",
)
@click.option("--min-area", default=2500.0, show_default=True, help="Drop fields smaller than this (m2).")
@click.option("--simplify", default=None, type=float, help="Coverage simplification tolerance (m).")
@_segment_options
def predict(
    scene: Path,
    model_path: Path,
    out: Path,
    classes: Path | None,
    min_area: float,
    simplify: float | None,
    ksize: int,
    filter_: str,
    tile_size: int,
) -> None:
    """Segment SCENE with a trained model into field boundaries (GeoJSON)."""
    from cropseg._io import check_output_path
    from cropseg.classify import load_model
    from cropseg.pipeline import segment_scene
    from cropseg.vectorize import write_geojson

    check_output_path(out, "--out")
    model = load_model(model_path)
    fields = segment_scene(
        scene,
        model,
        ksize=ksize,
        filter=None if filter_ == "none" else filter_,
        min_area=min_area,
        simplify=simplify,
        out=classes,
        tile_size=tile_size,
        progress=True,
    )
    write_geojson(fields, out)
    click.echo(f"{len(fields)} fields, {fields.area_m2.sum() / 1e4:,.1f} ha, written to {out}")


@main.command()
@_scene_arg
@click.argument("ground_truth", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the report as JSON.",
)
@_segment_options
def evaluate(
    scene: Path, ground_truth: Path, model_path: Path, json_path: Path | None, ksize: int, filter_: str, tile_size: int
) -> None:
    """Score a model's segmentation of SCENE against GROUND_TRUTH (classification_report)."""
    import rasterio

    from cropseg.classify import load_model
    from cropseg.evaluate import evaluate as score
    from cropseg.labels import rasterize_labels
    from cropseg.pipeline import classify_scene

    model = load_model(model_path)
    class_map, transform, crs = classify_scene(
        scene, model, ksize=ksize, filter=None if filter_ == "none" else filter_, tile_size=tile_size, progress=True
    )
    with rasterio.open(scene) as ds:
        valid = ds.read_masks(1) > 0
    truth = rasterize_labels(ground_truth, transform=transform, shape=class_map.shape, crs=crs)
    truth[~valid] = 255
    report = score(truth, class_map)
    click.echo(report.text)
    click.echo(f"kappa {report.kappa:.3f}   crop IoU {report.iou['crop']:.3f}")
    if json_path is not None:
        report.to_json(json_path)


@main.command()
@click.argument("class_map", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Fields GeoJSON.")
@click.option("--value", default=1, show_default=True, help="Class value that forms fields.")
@click.option("--connectivity", type=click.Choice(["4", "8"]), default="8", show_default=True)
@click.option("--min-area", default=0.0, show_default=True, help="Drop fields smaller than this (m2).")
@click.option("--simplify", default=None, type=float, help="Coverage simplification tolerance (m).")
def vectorize(
    class_map: Path, out: Path, value: int, connectivity: str, min_area: float, simplify: float | None
) -> None:
    """Turn a class-map GeoTIFF into field boundaries (GeoJSON)."""
    import rasterio

    from cropseg._io import check_output_path
    from cropseg.vectorize import vectorize as to_fields
    from cropseg.vectorize import write_geojson

    check_output_path(out, "--out")
    with rasterio.open(class_map) as ds:
        array, transform, crs, nodata = ds.read(1), ds.transform, ds.crs, ds.nodata
    fields = to_fields(
        array,
        transform,
        crs,
        value=value,
        connectivity=int(connectivity),
        min_area=min_area,
        simplify=simplify,
        nodata=None if nodata is None else int(nodata),
    )
    write_geojson(fields, out)
    click.echo(f"{len(fields)} fields written to {out}")


main.add_command(search_command)
main.add_command(order_command)
main.add_command(download_command)


if __name__ == "__main__":  # pragma: no cover
    main()
