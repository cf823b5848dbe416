"""The synthetic PSScene generator behind :mod:`cropseg.datasets`.

A scene is painted window by window (bounded memory) on a 3 m grid in the metadata's UTM zone:

- land cover: crop fields from the ground-truth polygons, with per-field spectra that depend on the
  DWR crop class (``CLASS1``) and a growth stage (green canopy, senescing, harvested stubble, fallow);
  outside the fields dry grass and bare soil patches, a river with riparian trees, a road grid,
  buildings;
- texture: smooth within-field variation, row texture, per-pixel sensor noise;
- atmosphere: a few clouds with their shadows displaced away from the sun, which also change the
  radiance beneath them, and a matching 8-band UDM2;
- ground-truth drift, as in the original study: ``drift`` of the surveyed crop fields look fallow in
  the image and the same number of new crop patches appear outside the surveyed fields. Which fields
  drifted is written to the ``*_synthetic.json`` sidecar.

DNs are ``round(reflectance / reflectanceCoefficient)`` with the real coefficients of the metadata
XML, so :func:`cropseg.reflectance.to_reflectance` recovers the painted reflectance; DN 0 outside the
area of interest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import cv2
import geopandas as gpd
import numpy as np
import rasterio
import rasterio.features
import shapely
from affine import Affine
from rasterio.windows import Window

from cropseg._io import atomic_path
from cropseg.errors import InvalidInputError
from cropseg.reflectance import UDM2_BANDS, read_metadata
from cropseg.types import PathLike

logger = logging.getLogger(__name__)

#: Bump when the generator's output changes, so cached scenes are rebuilt.
GENERATOR_VERSION = 3

_DATA = Path(__file__).parent / "data"
_STRIP = 512

# Top-of-atmosphere reflectance (blue, green, red, nir) of the cover types, late-August Central Valley.
_GREEN = np.array([0.045, 0.075, 0.045, 0.42])
_SENESCENT = np.array([0.075, 0.105, 0.11, 0.30])

_SOIL = np.array([0.115, 0.15, 0.19, 0.245])
_DRY_GRASS = np.array([0.10, 0.13, 0.165, 0.265])
_TREES = np.array([0.035, 0.055, 0.035, 0.31])
_WATER = np.array([0.06, 0.07, 0.045, 0.025])
_ROAD = np.array([0.13, 0.14, 0.15, 0.17])
_ROOF = np.array([0.17, 0.18, 0.19, 0.22])
_CLOUD = np.array([0.42, 0.43, 0.44, 0.47])
_PATH_RADIANCE = np.array([0.045, 0.02, 0.008, 0.0])

# Share of green canopy by DWR class: D deciduous, C citrus, V vineyard, F field, G grain, P pasture,
# R rice, T truck crops. Grain is mostly harvested by late August.
_CLASS_GREEN = {"D": 0.75, "C": 0.8, "V": 0.65, "F": 0.8, "G": 0.4, "P": 0.7, "R": 0.9, "T": 0.75}

def data_path(name: str) -> Path:
    """Path of a shipped sample file, e.g. ``data_path("sacramento/aoi-train.geojson")``.

    Examples
    --------
    >>> data_path("sacramento/aoi-train.geojson").is_file()
    True
    """
    path = _DATA / name
    if not path.exists():
        available = sorted(str(p.relative_to(_DATA)) for p in _DATA.rglob("*") if p.is_file())
        raise InvalidInputError(f"no sample file {name!r}; available: {', '.join(available)}")
    return path

def cache_dir() -> Path:
    """Folder for generated sample scenes.

    ``$CROPSEG_CACHE_DIR``, else ``$XDG_CACHE_HOME/cropseg``, else ``~/.cache/cropseg``.
    """
    if os.environ.get("CROPSEG_CACHE_DIR"):
        return Path(os.environ["CROPSEG_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cropseg"

@dataclass(frozen=True)
class SyntheticScene:
    """Paths of a generated scene: analytic radiance, metadata XML, UDM2, ground truth, sidecar."""

    scene: Path
    metadata: Path
    udm: Path
    ground_truth: Path
    aoi: Path | None
    sidecar: Path

@dataclass(frozen=True)
class SacramentoSample:
    """One split of the Sacramento sample: synthetic imagery on the real geometries and metadata."""

    split: str
    scene: Path
    metadata: Path
    udm: Path
    ground_truth: Path
    aoi: Path

def _read_polygons(source: PathLike, crs: Any) -> gpd.GeoDataFrame:
    from cropseg.labels import read_ground_truth

    frame = read_ground_truth(source)
    return frame.to_crs(crs)

def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Make a coarse smoothed standard-normal field; sample it at full resolution with :func:`_upsample`."""
    coarse = rng.standard_normal((shape[0] // cell + 3, shape[1] // cell + 3)).astype(np.float32)
    return cv2.GaussianBlur(coarse, (0, 0), 1.0)

def _upsample(coarse: np.ndarray, cell: int, rows: slice, cols: slice) -> np.ndarray:
    """Bilinear sample of a coarse field at full-resolution rows/cols (continuous across windows)."""
    r = (np.arange(rows.start, rows.stop) + 0.5) / cell
    c = (np.arange(cols.start, cols.stop) + 0.5) / cell
    r0 = np.clip(r.astype(np.int64), 0, coarse.shape[0] - 2)
    c0 = np.clip(c.astype(np.int64), 0, coarse.shape[1] - 2)
    fr = (r - r0)[:, None].astype(np.float32)
    fc = (c - c0)[None, :].astype(np.float32)
    a = coarse[r0][:, c0]
    b = coarse[r0][:, c0 + 1]
    d = coarse[r0 + 1][:, c0]
    e = coarse[r0 + 1][:, c0 + 1]
    return (a * (1 - fc) + b * fc) * (1 - fr) + (d * (1 - fc) + e * fc) * fr

def _synthetic_fields(rng: np.random.Generator, shape: tuple[int, int], transform: Affine) -> gpd.GeoDataFrame:
    """Jittered-grid fields of 90-260 px with roads between them and a few farmstead holes."""
    rows, cols = shape
    polys, classes = [], []
    codes = np.array(list(_CLASS_GREEN))
    r = 4
    while r < rows - 40:
        h = int(rng.integers(90, 260))
        c = 4
        while c < cols - 40:
            w = int(rng.integers(90, 260))
            if rng.random() < 0.82:
                r1, c1 = min(r + h, rows - 4), min(c + w, cols - 4)
                x0, y0 = transform @ (c, r)
                x1, y1 = transform @ (c1, r1)
                shell = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
                if rng.random() < 0.15:
                    cx, cy = shell.centroid.x, shell.centroid.y
                    hole = shapely.box(cx - 30, cy - 30, cx + 30, cy + 30)
                    shell = shapely.Polygon(shell.exterior.coords, [hole.exterior.coords])
                polys.append(shell)
                classes.append(str(rng.choice(codes)))
            c += w + int(rng.integers(4, 12))
        r += h + int(rng.integers(4, 12))
    return gpd.GeoDataFrame({"CLASS1": classes}, geometry=polys)

def _paint_window(
    win: Window,
    transform: Affine,
    fields: gpd.GeoDataFrame,
    field_spectra: np.ndarray,
    aoi_geoms: list[Any],
    noise: dict[str, np.ndarray],
    seed: int,
    cloud_cover: float,
    sun_shift: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reflectance (4, h, w), in-AOI mask and UDM2 class (0 clear, 2 shadow, 5 cloud) of one window."""
    rows = slice(win.row_off, win.row_off + win.height)
    cols = slice(win.col_off, win.col_off + win.width)
    shape = (win.height, win.width)
    wt = transform @ Affine.translation(win.col_off, win.row_off)
    rng = np.random.default_rng([seed, win.row_off, win.col_off])

    field_id = rasterio.features.rasterize(
        ((g, i + 1) for i, g in enumerate(fields.geometry)), out_shape=shape, transform=wt, dtype="int32"
    )
    in_aoi = rasterio.features.geometry_mask(aoi_geoms, out_shape=shape, transform=wt, invert=True)

    patch = _upsample(noise["cover"], 40, rows, cols)
    soil_share = np.clip(0.5 + 0.35 * _upsample(noise["soil"], 25, rows, cols), 0, 1)[..., None]
    background = _DRY_GRASS * (1 - soil_share) + _SOIL * soil_share
    refl = np.broadcast_to(background, (*shape, 4)).copy()
    # River with riparian trees, along a smooth meander of the coarse noise.
    river = np.abs(_upsample(noise["river"], 200, rows, cols)) < 0.035
    trees = (np.abs(_upsample(noise["river"], 200, rows, cols)) < 0.11) & ~river
    trees &= _upsample(noise["canopy"], 6, rows, cols) > -0.3
    refl[trees] = _TREES
    refl[river] = _WATER
    # Buildings in the built-up patches, roads on a grid.
    built = patch > 1.6
    roofs = built & (_upsample(noise["roofs"], 4, rows, cols) > 0.4)
    refl[roofs] = _ROOF
    rr = np.arange(rows.start, rows.stop)[:, None]
    cc = np.arange(cols.start, cols.stop)[None, :]
    road = ((rr % 337) < 3) | ((cc % 421) < 3)
    refl[road & ~river] = _ROAD
    # Crop fields (the survey's, minus drift, plus new ones from the sidecar list).
    inside = field_id > 0
    refl[inside] = field_spectra[field_id[inside] - 1]
    texture = 1 + 0.1 * _upsample(noise["texture"], 8, rows, cols) + 0.02 * np.sin(cc * 1.3)[..., :]
    refl *= texture[..., None]
    # Clouds and their shadows (displaced away from the sun).
    cloud_field = _upsample(noise["cloud"], 60, rows, cols)
    threshold = _cloud_threshold(cloud_cover)
    thickness = np.clip((cloud_field - threshold) / 0.4, 0, 1)
    shadow_rows = slice(rows.start - sun_shift[0], rows.stop - sun_shift[0])
    shadow_cols = slice(cols.start - sun_shift[1], cols.stop - sun_shift[1])
    shadow_field = _upsample(noise["cloud"], 60, shadow_rows, shadow_cols)
    shadow = (shadow_field > threshold) & (thickness == 0)
    refl[shadow] *= 0.45
    refl = refl * (1 - thickness[..., None]) + _CLOUD * thickness[..., None]
    refl += _PATH_RADIANCE
    refl += rng.normal(0.0, 0.008, refl.shape)
    udm_class = np.where(thickness > 0, 5, np.where(shadow, 2, 0)).astype(np.uint8)
    return np.moveaxis(refl, -1, 0), in_aoi, udm_class

def _cloud_threshold(cloud_cover: float) -> float:
    """Threshold of the unit-variance smoothed field that leaves about ``cloud_cover`` of it cloudy."""
    # The smoothed coarse field has std ~0.28 (Gaussian blur of sigma 1 of unit normals).
    return 0.28 * NormalDist().inv_cdf(1 - max(cloud_cover, 1e-6))

def _field_spectra(rng: np.random.Generator, classes: list[str], drifted: np.ndarray) -> np.ndarray:
    """One reflectance per field from its class and a growth stage; drifted fields look fallow."""
    spectra = np.empty((len(classes), 4))
    for i, code in enumerate(classes):
        green = _CLASS_GREEN.get(code, 0.6)
        if drifted[i]:
            share = rng.uniform(0, 1)
            spectra[i] = _DRY_GRASS * (1 - share) + _SOIL * share
            continue
        if rng.random() > green:  # harvested or senescent this late in summer
            # Stubble and ploughed fields look much like the dry land around them, a little brighter.
            share = rng.uniform(0, 1)
            bare = (_DRY_GRASS * (1 - share) + _SOIL * share) * rng.uniform(1.03, 1.12)
            spectra[i] = bare if rng.random() < 0.6 else _SENESCENT
        else:
            vigour = rng.uniform(0.55, 1.0)
            spectra[i] = _GREEN * vigour + _SENESCENT * (1 - vigour)
        spectra[i] *= rng.uniform(0.93, 1.07, 4)
    return spectra

def make_synthetic_scene(
    out_dir: PathLike,
    *,
    metadata_xml: PathLike | None = None,
    aoi: PathLike | None = None,
    ground_truth: PathLike | None = None,
    size: tuple[int, int] | None = None,
    resolution: float = 3.0,
    seed: int = 0,
    drift: float = 0.1,
    cloud_cover: float = 0.02,
) -> SyntheticScene:
    """Generate a realistic synthetic PSScene (analytic radiance, metadata XML, UDM2) on real or made-up fields.

    Either give ``aoi`` and ``ground_truth`` (the scene covers the AOI, the crop fields are the
    polygons), or ``size=(rows, cols)`` for a scene of synthetic fields of that size (their polygons
    are written beside it as ``*_fields.gpkg``). Files follow Planet's naming, so
    :func:`cropseg.read_scene` finds the XML and UDM2 beside the image. Deterministic for a seed;
    reused when a previous call with the same arguments left complete files in ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created if missing).
    metadata_xml : path, optional
        A real PSScene metadata XML: its reflectance coefficients, UTM zone and item id are used.
        Default: the Sacramento train scene's.
    aoi, ground_truth : path, optional
        The area of interest (GeoJSON polygon) and crop-field polygons (any form
        :func:`cropseg.labels.read_ground_truth` reads, with a ``CLASS1`` DWR column if available).
    size : (rows, cols), optional
        Make a scene of this many pixels with synthetic fields instead.
    resolution : float, default 3.0
        Pixel size in metres.
    seed : int, default 0
        Random seed.
    drift : float, default 0.1
        Share of surveyed crop fields that look fallow in the image; as many new crop patches appear
        outside the surveyed fields.
    cloud_cover : float, default 0.02
        Approximate cloudy share of the scene.

    Returns
    -------
    SyntheticScene
    """
    if (size is None) == (aoi is None or ground_truth is None):
        raise InvalidInputError("give either aoi= and ground_truth=, or size=(rows, cols); not both, not neither")
    if size is not None and (len(size) != 2 or min(int(v) for v in size) < 64):
        raise InvalidInputError(f"size must be (rows, cols) of at least 64 each, got {size!r}")
    if not 0 <= drift <= 0.5:
        raise InvalidInputError(f"drift must be between 0 and 0.5, got {drift!r}")
    if not 0 <= cloud_cover <= 0.5:
        raise InvalidInputError(f"cloud_cover must be between 0 and 0.5, got {cloud_cover!r}")
    if not resolution > 0:
        raise InvalidInputError(f"resolution must be > 0 metres, got {resolution!r}")
    default_xml = "sacramento/train_scene_cropped_metadata.xml"
    xml_path = Path(metadata_xml) if metadata_xml is not None else data_path(default_xml)
    meta = read_metadata(xml_path)
    crs = f"EPSG:{meta.epsg or 32610}"
    out = Path(os.fspath(out_dir))
    out.mkdir(parents=True, exist_ok=True)
    params = {
        "version": GENERATOR_VERSION,
        "xml": hashlib.sha256(xml_path.read_bytes()).hexdigest(),
        "aoi": hashlib.sha256(Path(aoi).read_bytes()).hexdigest() if aoi else None,
        "gt": hashlib.sha256(Path(ground_truth).read_bytes()).hexdigest() if ground_truth else None,
        "size": list(size) if size else None,
        "resolution": resolution,
        "seed": seed,
        "drift": drift,
        "cloud_cover": cloud_cover,
    }
    base = out / f"{meta.item_id}_3B_AnalyticMS"
    paths = SyntheticScene(
        scene=Path(f"{base}_clip.tif"),
        metadata=Path(f"{base}_metadata_clip.xml"),
        udm=out / f"{meta.item_id}_3B_udm2_clip.tif",
        ground_truth=Path(ground_truth) if ground_truth else out / f"{meta.item_id}_fields.gpkg",
        aoi=Path(aoi) if aoi else None,
        sidecar=out / f"{meta.item_id}_synthetic.json",
    )
    if paths.sidecar.is_file():
        try:
            if json.loads(paths.sidecar.read_text())["params"] == params and all(
                p.is_file() for p in (paths.scene, paths.metadata, paths.udm, paths.ground_truth)
            ):
                return paths
        except (ValueError, KeyError):
            pass

    rng = np.random.default_rng(seed)
    if size is not None:
        shape = (int(size[0]), int(size[1]))
        transform = Affine(resolution, 0, 600000.0, 0, -resolution, 4240000.0)
        fields = _synthetic_fields(rng, shape, transform).set_crs(crs)
        left, top = transform.c, transform.f
        aoi_geoms = [shapely.box(left, top - shape[0] * resolution, left + shape[1] * resolution, top)]
    else:
        fields = _read_polygons(ground_truth, crs)  # type: ignore[arg-type]
        aoi_frame = _read_polygons(aoi, crs)  # type: ignore[arg-type]
        aoi_geoms = list(aoi_frame.geometry)
        minx, miny, maxx, maxy = shapely.total_bounds(aoi_geoms)
        left = np.floor(minx / resolution) * resolution
        top = np.ceil(maxy / resolution) * resolution
        shape = (int(np.ceil((top - miny) / resolution)), int(np.ceil((maxx - left) / resolution)))
        transform = Affine(resolution, 0, left, 0, -resolution, top)
    classes = [str(c) for c in fields["CLASS1"]] if "CLASS1" in fields else ["F"] * len(fields)
    n_fields = len(fields)
    drifted = np.zeros(n_fields, dtype=bool)
    drifted[rng.choice(n_fields, size=int(round(drift * n_fields)), replace=False)] = True
    # New crop patches outside the survey: rectangles on background land, as many as drifted fields.
    survey_union = shapely.union_all(list(fields.geometry))
    new_fields = []
    tries = 0
    while len(new_fields) < drifted.sum() and tries < 200 * max(1, drifted.sum()):
        tries += 1
        r, c = rng.integers(0, shape[0] - 40), rng.integers(0, shape[1] - 40)
        h, w = rng.integers(25, 70, 2)
        x0, y0 = transform @ (c, r)
        box = shapely.box(x0, y0 - h * resolution, x0 + w * resolution, y0)
        if not box.intersects(survey_union) and all(box.within(g) for g in aoi_geoms[:1]):
            new_fields.append(box)
    painted = gpd.GeoDataFrame(
        {"CLASS1": classes + ["F"] * len(new_fields)},
        geometry=list(fields.geometry) + new_fields,
        crs=crs,
    )
    spectra = _field_spectra(rng, list(painted["CLASS1"]), np.r_[drifted, np.zeros(len(new_fields), bool)])
    noise = {
        "cover": _smooth_noise(rng, shape, 40),
        "soil": _smooth_noise(rng, shape, 25),
        "river": _smooth_noise(rng, shape, 200),
        "canopy": _smooth_noise(rng, shape, 6),
        "roofs": _smooth_noise(rng, shape, 4),
        "texture": _smooth_noise(rng, shape, 8),
        "cloud": _smooth_noise(rng, shape, 60),
    }
    # The sun is south-east of the scene at ~10:00 local; shadows fall north-west of clouds.
    sun_shift = (-40, -25)
    coefficients = np.array([meta.reflectance_coefficients[b] for b in range(1, 5)])
    profile = {
        "driver": "GTiff",
        "width": shape[1],
        "height": shape[0],
        "transform": transform,
        "crs": crs,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    with atomic_path(paths.scene) as tmp_scene, atomic_path(paths.udm) as tmp_udm:
        with rasterio.open(tmp_scene, "w", count=4, dtype="uint16", nodata=0, **profile) as dst, rasterio.open(
            tmp_udm, "w", count=8, dtype="uint8", **profile
        ) as udm:
            udm.descriptions = UDM2_BANDS
            for r0 in range(0, shape[0], _STRIP):
                win = Window(0, r0, shape[1], min(_STRIP, shape[0] - r0))
                refl, in_aoi, udm_class = _paint_window(
                    win, transform, painted, spectra, aoi_geoms, noise, seed, cloud_cover, sun_shift
                )
                dn = np.clip(np.rint(refl / coefficients[:, None, None]), 1, 65535).astype(np.uint16)
                dn[:, ~in_aoi] = 0
                dst.write(dn, window=win)
                bands = np.zeros((8, win.height, win.width), np.uint8)
                bands[0] = (udm_class == 0) & in_aoi
                bands[2] = (udm_class == 2) & in_aoi
                bands[5] = (udm_class == 5) & in_aoi
                spread = _upsample(noise["cover"], 40, slice(r0, r0 + win.height), slice(0, shape[1]))
                confidence = 70 + 25 * np.clip(spread, -1, 1)
                bands[6] = np.where(in_aoi, confidence, 0).astype(np.uint8)
                bands[7] = ~in_aoi
                udm.write(bands, window=win)
    with atomic_path(paths.metadata) as tmp:
        shutil.copyfile(xml_path, tmp)
    if size is not None:
        with atomic_path(paths.ground_truth) as tmp:
            fields.to_file(tmp, driver="GPKG", layer="fields")
    sidecar = {
        "params": params,
        "synthetic": "imagery is synthetic; geometries and metadata are real where given",
        "drifted_fields": np.flatnonzero(drifted).tolist(),
        "new_crop_patches": [shapely.to_wkt(b, rounding_precision=2) for b in new_fields],
    }
    with atomic_path(paths.sidecar) as tmp:
        tmp.write_text(json.dumps(sidecar, indent=1))
    logger.info("generated synthetic scene %s (%dx%d)", paths.scene, *shape)
    return paths

def sacramento(split: str = "train", *, cache: PathLike | None = None) -> SacramentoSample:
    """Return the Sacramento sample: synthetic PSScene imagery on the real DWR fields, AOI and metadata.

    The scene is generated on first use (a few seconds) and cached in :func:`cache_dir` (or
    ``cache``).

    Parameters
    ----------
    split : {"train", "test"}
        The original study's training or test area.
    cache : path, optional
        Folder to cache generated scenes in.

    Examples
    --------
    >>> sample = sacramento("train")
    >>> sample.scene.name
    '20160831_180231_0e0e_3B_AnalyticMS_clip.tif'
    """
    if split not in ("train", "test"):
        raise InvalidInputError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(cache) if cache is not None else cache_dir()
    folder = folder / f"sacramento-v{GENERATOR_VERSION}" / split
    paths = make_synthetic_scene(
        folder,
        metadata_xml=data_path(f"sacramento/{split}_scene_cropped_metadata.xml"),
        aoi=data_path(f"sacramento/aoi-{split}.geojson"),
        ground_truth=data_path(f"sacramento/ground-truth-{split}.geojson"),
        seed=0 if split == "train" else 1,
    )
    return SacramentoSample(split, paths.scene, paths.metadata, paths.udm, paths.ground_truth, paths.aoi)  # type: ignore[arg-type]
