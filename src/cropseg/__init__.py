"""cropseg: crop / non-crop segmentation of Planet scenes into class maps and field boundaries."""

from __future__ import annotations

import logging

from cropseg.classify import CropKNN, TuningResult, load_model, predict_scene, save_model, tune_knn
from cropseg.denoise import majority_filter, median_blur, remove_small_regions
from cropseg.errors import (
    ChecksumError,
    CropsegError,
    CropsegIOError,
    CropsegWarning,
    CRSError,
    GeometryError,
    GeometryWarning,
    GridMismatchError,
    InvalidInputError,
    MetadataError,
    ModelError,
    ModelWarning,
    OrderFailedError,
    OutputError,
    PlanetAPIError,
    PlanetAuthError,
    PlanetError,
    ProductError,
    SceneReadError,
)
from cropseg.evaluate import Report, disagreement_map, evaluate, field_agreement
from cropseg.labels import label_contours, rasterize_labels, read_ground_truth
from cropseg.pipeline import classify_scene, segment_scene, train_model
from cropseg.reflectance import SceneMetadata, read_metadata, to_reflectance, udm2_mask
from cropseg.samples import from_predictions, spatial_blocks, to_samples
from cropseg.scene import Scene, iter_windows, read_scene
from cropseg.types import CROP, NODATA, NON_CROP
from cropseg.vectorize import vectorize, write_geojson

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "__version__",
    "CROP",
    "NON_CROP",
    "NODATA",
    "Scene",
    "SceneMetadata",
    "read_scene",
    "iter_windows",
    "read_metadata",
    "to_reflectance",
    "udm2_mask",
    "read_ground_truth",
    "rasterize_labels",
    "label_contours",
    "to_samples",
    "from_predictions",
    "spatial_blocks",
    "CropKNN",
    "TuningResult",
    "tune_knn",
    "predict_scene",
    "save_model",
    "load_model",
    "median_blur",
    "majority_filter",
    "remove_small_regions",
    "vectorize",
    "write_geojson",
    "Report",
    "evaluate",
    "field_agreement",
    "disagreement_map",
    "train_model",
    "classify_scene",
    "segment_scene",
    "ChecksumError",
    "CropsegError",
    "CropsegIOError",
    "CropsegWarning",
    "CRSError",
    "GeometryError",
    "GeometryWarning",
    "GridMismatchError",
    "InvalidInputError",
    "MetadataError",
    "ModelError",
    "ModelWarning",
    "OrderFailedError",
    "OutputError",
    "PlanetAPIError",
    "PlanetAuthError",
    "PlanetError",
    "ProductError",
    "SceneReadError",
]
