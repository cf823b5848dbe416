import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely

from cropseg import InvalidInputError, read_scene
from cropseg.datasets import GENERATOR_VERSION, cache_dir, data_path, make_synthetic_scene, sacramento
from cropseg.labels import rasterize_labels
from cropseg.reflectance import UDM2_BANDS, read_metadata


def test_small_scene_is_deterministic(small_scene, tmp_path):
    again = make_synthetic_scene(tmp_path, size=(300, 420), seed=3, cloud_cover=0.03)
    for a, b in [(small_scene.scene, again.scene), (small_scene.udm, again.udm)]:
        with rasterio.open(a) as x, rasterio.open(b) as y:
            assert np.array_equal(x.read(), y.read())
    other = make_synthetic_scene(tmp_path / "other", size=(300, 420), seed=4)
    with rasterio.open(small_scene.scene) as x, rasterio.open(other.scene) as y:
        assert not np.array_equal(x.read(), y.read())


def test_files_look_like_planet_products(small_scene):
    with rasterio.open(small_scene.scene) as ds:
        assert (ds.count, ds.dtypes[0], ds.nodata, ds.crs.to_epsg()) == (4, "uint16", 0, 32610)
        assert ds.res == (3.0, 3.0) and ds.profile["tiled"]
    with rasterio.open(small_scene.udm) as ds:
        assert ds.descriptions == UDM2_BANDS
        udm = ds.read()
    assert (udm[:6].sum(axis=0) == 1).all()  # one class per in-footprint pixel
    assert set(np.unique(udm[6])) <= set(range(101))
    assert small_scene.metadata.read_text() == data_path("sacramento/train_scene_cropped_metadata.xml").read_text()
    fields = gpd.read_file(small_scene.ground_truth)
    assert len(fields) > 3 and (fields.geometry.geom_type == "Polygon").all()


def test_sacramento_split(sacramento_train):
    s = sacramento_train
    assert s.ground_truth == data_path("sacramento/ground-truth-train.geojson")
    meta = read_metadata(s.metadata)
    assert s.scene.name == f"{meta.item_id}_3B_AnalyticMS_clip.tif"
    scene = read_scene(s.scene)
    with rasterio.open(s.scene) as ds:
        dn = ds.read(1)
    aoi = gpd.read_file(s.aoi).to_crs(32610)
    inside = rasterio.features.geometry_mask(aoi.geometry, dn.shape, scene.transform, invert=True)
    assert (dn[~inside] == 0).all() and (dn[inside] > 0).all()
    labels = rasterize_labels(s.ground_truth, like=scene)
    red, nir = scene.reflectance[2], scene.reflectance[3]
    ndvi = (nir - red) / (nir + red)
    assert np.nanmean(ndvi[labels == 1]) > np.nanmean(ndvi[labels == 0]) + 0.1
    assert 0.7 < (labels == 1).sum() / (labels != 255).sum() < 0.95  # the survey covers most of the AOI


def test_drift_is_documented(sacramento_train):
    item = sacramento_train.scene.name.split("_3B")[0]
    sidecar = json.loads((sacramento_train.scene.parent / f"{item}_synthetic.json").read_text())
    n_fields = len(json.loads(sacramento_train.ground_truth.read_text()))
    assert len(sidecar["drifted_fields"]) == round(0.1 * n_fields)
    assert len(sidecar["new_crop_patches"]) > 0
    assert sidecar["params"]["version"] == GENERATOR_VERSION
    assert "synthetic" in sidecar["synthetic"]
    for wkt in sidecar["new_crop_patches"]:
        assert shapely.from_wkt(wkt).area > 0


def test_cache_is_reused(sacramento_train):
    before = sacramento_train.scene.stat().st_mtime_ns
    assert sacramento("train").scene.stat().st_mtime_ns == before


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CROPSEG_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("CROPSEG_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "cropseg"


def test_bad_arguments(tmp_path):
    with pytest.raises(InvalidInputError, match="'train' or 'test'"):
        sacramento("validation")
    with pytest.raises(InvalidInputError, match="either aoi= and ground_truth=, or size="):
        make_synthetic_scene(tmp_path)
    with pytest.raises(InvalidInputError, match="at least 64"):
        make_synthetic_scene(tmp_path, size=(10, 10))
    with pytest.raises(InvalidInputError, match="drift"):
        make_synthetic_scene(tmp_path, size=(100, 100), drift=0.9)
    with pytest.raises(InvalidInputError, match="no sample file"):
        data_path("nope.tif")
