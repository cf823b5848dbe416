import shutil

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from cropseg import GridMismatchError, InvalidInputError, ProductError, SceneReadError
from cropseg.reflectance import read_metadata, to_reflectance, udm2_mask
from cropseg.scene import as_window, find_siblings, iter_windows, read_scene


def test_whole_read_matches_manual_conversion(small_scene):
    scene = read_scene(small_scene.scene)
    with rasterio.open(small_scene.scene) as ds:
        dn = ds.read()
        assert scene.transform == ds.transform and scene.crs == ds.crs
    expected = to_reflectance(dn, read_metadata(small_scene.metadata))
    valid = (dn > 0).all(axis=0) & udm2_mask(small_scene.udm)
    assert np.array_equal(scene.valid, valid)
    assert np.array_equal(scene.reflectance[:, valid], expected[:, valid])
    assert np.isnan(scene.reflectance[:, ~valid]).all()
    assert scene.band_names == ("blue", "green", "red", "nir")
    assert scene.product == "analytic" and scene.item_id == read_metadata(small_scene.metadata).item_id
    assert 0 < (~scene.valid).mean() < 0.2  # clouds and shadows masked


@pytest.mark.parametrize("window", [((10, 50), (20, 90)), Window(300 - 37, 0, 37, 300), ((0, 300), (0, 420))])
def test_windowed_reads_equal_slices_of_whole(small_scene, window):
    whole = read_scene(small_scene.scene)
    part = read_scene(small_scene.scene, window=window)
    win = as_window(window)
    rows = slice(win.row_off, win.row_off + win.height)
    cols = slice(win.col_off, win.col_off + win.width)
    np.testing.assert_array_equal(part.reflectance, whole.reflectance[:, rows, cols])
    np.testing.assert_array_equal(part.valid, whole.valid[rows, cols])
    assert part.transform == whole.transform * rasterio.Affine.translation(win.col_off, win.row_off)


def test_bands_by_name_and_number(small_scene):
    whole = read_scene(small_scene.scene)
    two = read_scene(small_scene.scene, bands=["nir", 3])
    assert two.band_names == ("nir", "red")
    np.testing.assert_array_equal(two.reflectance[0][whole.valid], whole.reflectance[3][whole.valid])


def test_siblings_found_by_planet_naming(small_scene):
    xml, udm = find_siblings(small_scene.scene)
    assert xml == small_scene.metadata and udm == small_scene.udm


def test_explicit_metadata_and_udm_elsewhere(small_scene, tmp_path):
    lone = tmp_path / "renamed_3B_AnalyticMS.tif"
    shutil.copy(small_scene.scene, lone)
    with pytest.raises(ProductError, match="no \\*_metadata.xml was found"):
        read_scene(lone)
    scene = read_scene(lone, metadata=small_scene.metadata, udm=small_scene.udm)
    np.testing.assert_array_equal(scene.valid, read_scene(small_scene.scene).valid)


def test_surface_reflectance_file(tmp_path):
    path = tmp_path / "20200101_000000_0000_3B_AnalyticMS_SR_clip.tif"
    dn = np.arange(1, 4 * 5 * 6 + 1, dtype=np.uint16).reshape(4, 5, 6)
    dn[:, 0, 0] = 0
    with rasterio.open(path, "w", driver="GTiff", width=6, height=5, count=4, dtype="uint16", nodata=0,
                       crs="EPSG:32610", transform=rasterio.Affine(3, 0, 6e5, 0, -3, 4.2e6)) as ds:
        ds.write(dn)
    scene = read_scene(path)
    assert scene.product == "analytic_sr" and scene.metadata is None
    np.testing.assert_allclose(scene.reflectance[:, 1:, 1:], dn[:, 1:, 1:] / np.float32(10000))
    assert not scene.valid[0, 0]


def test_iter_windows_cover_exactly_once():
    shape = (130, 77)
    seen = np.zeros(shape, int)
    for core, padded in iter_windows(shape, tile_size=32, overlap=3):
        seen[core.row_off : core.row_off + core.height, core.col_off : core.col_off + core.width] += 1
        assert padded.row_off == max(core.row_off - 3, 0) and padded.col_off == max(core.col_off - 3, 0)
        assert padded.row_off + padded.height == min(core.row_off + core.height + 3, shape[0])
    assert (seen == 1).all()


def test_scene_errors(small_scene, tmp_path):
    with pytest.raises(SceneReadError, match="does not exist"):
        read_scene(tmp_path / "nope_3B_AnalyticMS.tif")
    corrupt = tmp_path / "x_3B_AnalyticMS_clip.tif"
    corrupt.write_bytes(small_scene.scene.read_bytes()[:2000])
    with pytest.raises(SceneReadError, match="cannot be"):
        read_scene(corrupt, metadata=small_scene.metadata)
    with pytest.raises(InvalidInputError, match="window"):
        read_scene(small_scene.scene, window=((0, 10), (0, 10_000)))
    with pytest.raises(InvalidInputError, match="window must be"):
        read_scene(small_scene.scene, window="top-left")
    with pytest.raises(InvalidInputError, match="band 'swir'"):
        read_scene(small_scene.scene, bands=["swir"])
    with pytest.raises(InvalidInputError, match="tile_size"):
        list(iter_windows((10, 10), tile_size=0))
    # A UDM2 from another grid.
    other = tmp_path / "other_udm2.tif"
    with rasterio.open(small_scene.udm) as src:
        profile = src.profile | {"width": src.width - 1}
        data = src.read()[:, :, :-1]
    with rasterio.open(other, "w", **profile) as dst:
        dst.write(data)
    with pytest.raises(GridMismatchError, match="UDM2 other_udm2.tif"):
        read_scene(small_scene.scene, udm=other)
