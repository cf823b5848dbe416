"""Planet metadata, radiance-to-reflectance conversion, product detection and UDM2 masks.

PSScene analytic (radiance) products store uint16 DNs; top-of-atmosphere reflectance is
``DN * reflectanceCoefficient[band]`` with the per-band coefficient from the scene's
``*_AnalyticMS_metadata[_clip].xml``. Surface-reflectance (``_SR``) products already store
reflectance scaled by 10 000, so they are divided by 10 000 and never get coefficients too. DN 0 is
nodata in both and becomes ``nan``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio

from cropseg._core._jit import prefaulted
from cropseg._core.reflectance import scale_dn
from cropseg.errors import InvalidInputError, MetadataError, ProductError, SceneReadError
from cropseg.types import PathLike

logger = logging.getLogger(__name__)

__all__ = [
    "SR_SCALE",
    "PRODUCTS",
    "Product",
    "SceneMetadata",
    "read_metadata",
    "normalize_product",
    "detect_product",
    "to_reflectance",
    "udm2_mask",
    "UDM2_BANDS",
]

#: Surface-reflectance products store reflectance times this.
SR_SCALE = 10_000.0

NS = {
    "ps": "http://schemas.planet.com/ps/v1/planet_product_metadata_geocorrected_level",
    "eop": "http://earth.esa.int/eop",
    "opt": "http://earth.esa.int/opt",
    "gml": "http://www.opengis.net/gml",
}

#: Band names of the 8-band UDM2, in file order.
UDM2_BANDS = ("clear", "snow", "shadow", "haze_light", "haze_heavy", "cloud", "confidence", "udm1")


@dataclass(frozen=True)
class Product:
    """A Planet PSScene analytic product: its band names in file order and how to get reflectance."""

    name: str
    band_names: tuple[str, ...]
    surface_reflectance: bool


_BANDS_4 = ("blue", "green", "red", "nir")
_BANDS_8 = ("coastal_blue", "blue", "green_i", "green", "yellow", "red", "rededge", "nir")

#: Planet's analytic products by name (bundle names with ``_udm2`` are accepted too).
PRODUCTS: dict[str, Product] = {
    "analytic": Product("analytic", _BANDS_4, False),
    "analytic_sr": Product("analytic_sr", _BANDS_4, True),
    "analytic_8b": Product("analytic_8b", _BANDS_8, False),
    "analytic_8b_sr": Product("analytic_8b_sr", _BANDS_8, True),
    "analytic_3b": Product("analytic_3b", ("red", "green", "blue"), False),
}


def normalize_product(product: str) -> Product:
    """Return the :class:`Product` for a Planet product or bundle name.

    Examples
    --------
    >>> normalize_product("analytic_sr_udm2").band_names
    ('blue', 'green', 'red', 'nir')
    """
    if not isinstance(product, str):
        raise ProductError(f"product must be a Planet product name such as 'analytic', got {product!r}")
    key = product.strip().lower()
    for suffix in ("_udm2",):
        if key.endswith(suffix):
            key = key[: -len(suffix)]
    if key not in PRODUCTS:
        raise ProductError(
            f"unknown product {product!r}; use one of {', '.join(PRODUCTS)} (bundle names with _udm2 too)"
        )
    return PRODUCTS[key]


@dataclass(frozen=True)
class SceneMetadata:
    """What cropseg uses from a PSScene metadata XML (or a Data API item JSON).

    ``reflectance_coefficients`` and ``radiometric_scale_factors`` are keyed by the 1-based band
    number in file order. Item JSON carries no coefficients, so those dicts are empty for it.
    """

    item_id: str
    acquired: datetime | None
    sun_elevation: float | None
    sun_azimuth: float | None
    epsg: int | None
    rows: int | None
    cols: int | None
    num_bands: int | None
    reflectance_coefficients: dict[int, float] = field(default_factory=dict)
    radiometric_scale_factors: dict[int, float] = field(default_factory=dict)
    atmospheric_correction: bool | None = None
    instrument: str | None = None
    satellite_id: str | None = None
    product_type: str | None = None
    cloud_cover: float | None = None
    path: Path | None = None


def _text(root: ET.Element, path: str) -> str | None:
    node = root.find(path, NS)
    return node.text.strip() if node is not None and node.text else None


def _number(root: ET.Element, path: str, kind: type = float) -> Any:
    text = _text(root, path)
    return None if text is None else kind(float(text)) if kind is int else kind(text)



def _item_id(identifier: str) -> str:
    """``20160831_180231_0e0e_3B_AnalyticMS`` -> ``20160831_180231_0e0e``."""
    match = re.match(r"^(\d{8}_\d{6}(?:_\d+)?_[0-9a-f]{4})", identifier)
    return match.group(1) if match else identifier


def _read_xml(path: Path) -> SceneMetadata:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise MetadataError(f"{path}: not well-formed XML ({exc}); pass the scene's *_metadata.xml") from exc
    if root.tag != f"{{{NS['ps']}}}EarthObservation":
        raise MetadataError(
            f"{path}: root element is {root.tag!r}, not ps:EarthObservation in namespace {NS['ps']}; "
            "pass a PSScene *_AnalyticMS_metadata.xml"
        )
    coefficients: dict[int, float] = {}
    scales: dict[int, float] = {}
    for node in root.iter(f"{{{NS['ps']}}}bandSpecificMetadata"):
        number = _number(node, "ps:bandNumber", int)
        if number is None:
            raise MetadataError(f"{path}: a ps:bandSpecificMetadata has no ps:bandNumber; the file is damaged")
        coefficient = _number(node, "ps:reflectanceCoefficient")
        scale = _number(node, "ps:radiometricScaleFactor")
        if coefficient is not None:
            coefficients[number] = coefficient
        if scale is not None:
            scales[number] = scale
    identifier = _text(root, ".//ps:EarthObservationMetaData/eop:identifier") or path.name
    acquired = _text(root, ".//ps:acquisitionDateTime")
    atmospheric = _text(root, ".//ps:atmosphericCorrectionApplied")
    cloud = _number(root, ".//opt:cloudCoverPercentage")
    meta = SceneMetadata(
        item_id=_item_id(identifier),
        acquired=datetime.fromisoformat(acquired) if acquired else None,
        sun_elevation=_number(root, ".//opt:illuminationElevationAngle"),
        sun_azimuth=_number(root, ".//opt:illuminationAzimuthAngle"),
        epsg=_number(root, ".//ps:epsgCode", int),
        rows=_number(root, ".//ps:numRows", int),
        cols=_number(root, ".//ps:numColumns", int),
        num_bands=_number(root, ".//ps:numBands", int),
        reflectance_coefficients=dict(sorted(coefficients.items())),
        radiometric_scale_factors=dict(sorted(scales.items())),
        atmospheric_correction=None if atmospheric is None else atmospheric.lower() == "true",
        instrument=_text(root, ".//eop:Instrument/eop:shortName"),
        satellite_id=_text(root, ".//eop:Platform/eop:serialIdentifier"),
        product_type=_text(root, ".//ps:EarthObservationMetaData/eop:productType"),
        cloud_cover=None if cloud is None else cloud / 100.0,
        path=path,
    )
    if not coefficients:
        raise MetadataError(
            f"{path}: no ps:reflectanceCoefficient found; this XML cannot convert radiance to reflectance "
            "(use the *_AnalyticMS_metadata.xml delivered with the analytic bundle)"
        )
    if meta.num_bands is not None and len(coefficients) != meta.num_bands:
        raise MetadataError(
            f"{path}: {len(coefficients)} reflectance coefficients for ps:numBands={meta.num_bands}; "
            "the file is incomplete"
        )
    return meta


def _read_item_json(path: Path) -> SceneMetadata:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{path}: not valid JSON ({exc}); pass the item's *_metadata.json") from exc
    props = doc.get("properties") if isinstance(doc, dict) else None
    if not isinstance(props, dict) or "id" not in doc:
        raise MetadataError(f"{path}: not a Planet Data API item (no 'id' and 'properties'); pass *_metadata.json")
    acquired = props.get("acquired")
    return SceneMetadata(
        item_id=str(doc["id"]),
        acquired=datetime.fromisoformat(acquired.replace("Z", "+00:00")) if acquired else None,
        sun_elevation=props.get("sun_elevation"),
        sun_azimuth=props.get("sun_azimuth"),
        epsg=props.get("epsg_code"),
        rows=props.get("rows"),
        cols=props.get("columns"),
        num_bands=None,
        instrument=props.get("instrument"),
        satellite_id=props.get("satellite_id"),
        product_type=props.get("item_type"),
        cloud_cover=props.get("cloud_cover"),
        path=path,
    )


def read_metadata(path: PathLike) -> SceneMetadata:
    """Read a PSScene ``*_metadata.xml`` (namespace-aware) or Data API item ``*_metadata.json``.

    Parameters
    ----------
    path : str or os.PathLike
        The metadata file. ``.json`` files are read as Data API item features.

    Returns
    -------
    SceneMetadata

    Examples
    --------
    >>> from cropseg.datasets import data_path
    >>> meta = read_metadata(data_path("sacramento/train_scene_cropped_metadata.xml"))
    >>> meta.item_id, meta.epsg, meta.num_bands
    ('20160831_180231_0e0e', 32610, 4)
    >>> sorted(meta.reflectance_coefficients)
    [1, 2, 3, 4]
    """
    p = Path(os.fspath(path))
    if not p.is_file():
        raise MetadataError(f"metadata file {str(p)!r} does not exist; pass the scene's *_metadata.xml")
    if p.suffix.lower() == ".json":
        return _read_item_json(p)
    return _read_xml(p)


def detect_product(path: PathLike) -> Product:
    """Detect the Planet product of a GeoTIFF from its name, band count and TIFF tags.

    Names follow ``<item>_3B_AnalyticMS[_SR][_8b][_harmonized][_clip].tif``; a 3-band analytic is
    red, green, blue. Surface-reflectance files also carry their atmospheric-correction parameters in
    the TIFF ImageDescription, which is used when the name is not Planet's.
    """
    p = Path(os.fspath(path))
    name = p.name.lower()
    try:
        with rasterio.open(p) as ds:
            count = ds.count
            description = ds.tags().get("TIFFTAG_IMAGEDESCRIPTION", "")
    except rasterio.RasterioIOError as exc:
        raise SceneReadError(f"{p}: cannot be opened as a GeoTIFF ({exc}); check the path") from exc
    sr = "_sr" in name or "atmospheric_correction" in description.lower()
    if "visual" in name or count not in (3, 4, 8):
        raise ProductError(
            f"{p}: {count} band(s) and name {p.name!r} are not a PSScene analytic product "
            "(4-band, 8-band or 3-band AnalyticMS); pass product= explicitly if it is one"
        )
    if count == 8 or "_8b" in name:
        key = "analytic_8b_sr" if sr else "analytic_8b"
    elif count == 3:
        key = "analytic_3b"
    else:
        key = "analytic_sr" if sr else "analytic"
    product = PRODUCTS[key]
    if len(product.band_names) != count:
        raise ProductError(f"{p}: name says {key} ({len(product.band_names)} bands) but the file has {count}")
    return product


def to_reflectance(
    dn: npt.ArrayLike,
    metadata: SceneMetadata | None = None,
    *,
    product: str | Product | None = None,
    bands: tuple[int, ...] | None = None,
) -> npt.NDArray[np.float32]:
    """Convert Planet DNs ``(bands, rows, cols)`` to float32 reflectance, ``nan`` where DN is 0.

    Radiance products: ``DN * reflectanceCoefficient[band]`` (top of atmosphere). Surface-reflectance
    products: ``DN / 10000``; giving them metadata coefficients is refused, so nothing is converted
    twice. Float input is refused: it is already converted.

    Parameters
    ----------
    dn : array_like of unsigned/signed integers, shape (bands, rows, cols) or (rows, cols)
        The raw pixel values.
    metadata : SceneMetadata, optional
        Required for radiance products (its reflectance coefficients).
    product : str or Product, optional
        Planet product name. Default: ``"analytic_sr"`` without metadata, ``"analytic"`` with it.
    bands : tuple of int, optional
        The 1-based file band numbers of ``dn``'s bands, when only some bands were read.

    Examples
    --------
    >>> import numpy as np
    >>> to_reflectance(np.array([[[0, 2500]]], dtype=np.uint16), product="analytic_sr")
    array([[[ nan, 0.25]]], dtype=float32)
    """
    array = np.asarray(dn)
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.ndim != 3:
        raise InvalidInputError(f"dn must be (bands, rows, cols) or (rows, cols), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise InvalidInputError(
            f"dn has dtype {array.dtype}; reflectance comes from integer DNs only (is it already "
            "reflectance? then do not convert it again)"
        )
    if product is None:
        prod = PRODUCTS["analytic" if metadata is not None else "analytic_sr"]
    else:
        prod = product if isinstance(product, Product) else normalize_product(product)
    band_numbers = tuple(range(1, array.shape[0] + 1)) if bands is None else tuple(bands)
    if len(band_numbers) != array.shape[0]:
        raise InvalidInputError(f"bands {bands!r} names {len(band_numbers)} bands but dn has {array.shape[0]}")
    if prod.surface_reflectance:
        if metadata is not None:
            raise ProductError(
                f"{prod.name} is surface reflectance (DN / 10000): applying the XML reflectance "
                "coefficients too would convert it twice; call to_reflectance without metadata"
            )
        factor, divisor = np.ones(array.shape[0]), float(SR_SCALE)
    else:
        if metadata is None:
            raise ProductError(
                f"{prod.name} is radiance: its reflectance coefficients come from the scene's "
                "*_metadata.xml; pass metadata=read_metadata(...)"
            )
        coefficients = metadata.reflectance_coefficients
        if len(coefficients) != len(prod.band_names) or not set(band_numbers) <= set(coefficients):
            raise ProductError(
                f"metadata {metadata.path} has coefficients for bands {sorted(coefficients)} but the "
                f"{prod.name} image has {len(prod.band_names)} bands (reading bands {list(band_numbers)}); "
                "use the XML delivered with this image"
            )
        factor, divisor = np.array([coefficients[b] for b in band_numbers], dtype=np.float64), 0.0
    out = prefaulted(array.shape, np.float32)
    scale_dn(array, factor, divisor, out)
    return out


def udm2_mask(
    udm: PathLike | npt.ArrayLike,
    *,
    min_confidence: int | None = None,
    haze_usable: bool = False,
    window: Any = None,
) -> npt.NDArray[np.bool_]:
    """Usable-pixel mask from an 8-band UDM2: ``clear == 1 & udm1 == 0`` (and optional rules).

    Parameters
    ----------
    udm : path or array_like of shape (8, rows, cols)
        A ``*_udm2[_clip].tif`` or its bands.
    min_confidence : int, optional
        Also require the confidence band (0-100) to be at least this.
    haze_usable : bool, default False
        Count light haze (band 4) as usable too.
    window : rasterio Window, optional
        Read only this window of a file.

    Examples
    --------
    >>> from cropseg.datasets import data_path
    >>> mask = udm2_mask(data_path("planet-order-sample/20151119_025740_0c74_3B_udm2_clip.tif"))
    >>> mask.shape, mask.dtype
    ((1352, 1578), dtype('bool'))
    """
    if isinstance(udm, (str, os.PathLike)):
        p = Path(os.fspath(udm))
        try:
            with rasterio.open(p) as ds:
                if ds.count != 8:
                    raise InvalidInputError(f"{p}: {ds.count} bands; a UDM2 has 8 ({', '.join(UDM2_BANDS)})")
                array = ds.read(window=window)
        except rasterio.RasterioIOError as exc:
            raise SceneReadError(f"UDM2 {str(p)!r} cannot be read ({exc}); check the path") from exc
    else:
        array = np.asarray(udm)
    if array.ndim != 3 or array.shape[0] != 8:
        raise InvalidInputError(f"udm must have shape (8, rows, cols), got {array.shape}")
    if min_confidence is not None and not 0 <= min_confidence <= 100:
        raise InvalidInputError(f"min_confidence must be between 0 and 100, got {min_confidence!r}")
    clear = array[0] == 1
    if haze_usable:
        clear |= array[3] == 1
    valid = clear & (array[7] == 0)
    if min_confidence is not None:
        valid &= array[6] >= min_confidence
    return valid
