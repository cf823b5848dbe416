import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cropseg import InvalidInputError, MetadataError, ProductError
from cropseg.datasets import data_path
from cropseg.reflectance import (
    PRODUCTS,
    SceneMetadata,
    detect_product,
    normalize_product,
    read_metadata,
    to_reflectance,
    udm2_mask,
)

XMLS = [
    "sacramento/train_scene_cropped_metadata.xml",
    "sacramento/test_scene_cropped_metadata.xml",
    "planet-order-sample/20151119_025740_0c74_3B_AnalyticMS_metadata_clip.xml",
]


@pytest.mark.parametrize("name", XMLS)
def test_real_xmls_parse_exactly(name):
    path = data_path(name)
    text = path.read_text()
    meta = read_metadata(path)
    blocks = re.findall(r"<ps:bandSpecificMetadata>(.*?)</ps:bandSpecificMetadata>", text, re.S)
    expected = {
        int(re.search(r"<ps:bandNumber>(\d+)<", b).group(1)): float(
            re.search(r"<ps:reflectanceCoefficient>([^<]+)<", b).group(1)
        )
        for b in blocks
    }
    assert meta.reflectance_coefficients == expected
    assert len(expected) == 4 and meta.num_bands == 4
    assert set(meta.radiometric_scale_factors.values()) == {0.01}
    assert meta.epsg == int(re.search(r"<ps:epsgCode>(\d+)<", text).group(1))
    assert meta.item_id == re.search(r"<eop:identifier>(\w+?)_3B_AnalyticMS", text).group(1)
    assert meta.sun_elevation == float(re.search(r"illuminationElevationAngle[^>]*>([^<]+)<", text).group(1))
    assert meta.atmospheric_correction is False
    assert meta.instrument == "PS2"
    assert meta.acquired.tzinfo is not None


def test_band_order_follows_band_number(tmp_path):
    text = data_path(XMLS[0]).read_text()
    blocks = re.findall(r"<ps:bandSpecificMetadata>.*?</ps:bandSpecificMetadata>", text, re.S)
    shuffled = text
    for b in blocks:
        shuffled = shuffled.replace(b, "", 1)
    at = shuffled.rindex("</ps:EarthObservation>")
    shuffled = shuffled[:at] + "".join(reversed(blocks)) + shuffled[at:]
    path = tmp_path / "x_metadata.xml"
    path.write_text(shuffled)
    assert read_metadata(path).reflectance_coefficients == read_metadata(data_path(XMLS[0])).reflectance_coefficients


def test_item_json():
    meta = read_metadata(data_path("planet-order-sample/20151119_025740_0c74_metadata.json"))
    assert meta.item_id == "20151119_025740_0c74"
    assert meta.reflectance_coefficients == {}
    assert meta.instrument == "PS2"


def test_bad_metadata(tmp_path):
    wrong_ns = tmp_path / "a.xml"
    wrong_ns.write_text(data_path(XMLS[0]).read_text().replace("planet_product_metadata_geocorrected_level", "x"))
    with pytest.raises(MetadataError, match="not ps:EarthObservation"):
        read_metadata(wrong_ns)
    no_coef = tmp_path / "b.xml"
    no_coef.write_text(re.sub(r"<ps:reflectanceCoefficient>[^<]+</ps:reflectanceCoefficient>", "",
                              data_path(XMLS[0]).read_text()))
    with pytest.raises(MetadataError, match="no ps:reflectanceCoefficient"):
        read_metadata(no_coef)
    broken = tmp_path / "c.xml"
    broken.write_text("<ps:Earth")
    with pytest.raises(MetadataError, match="not well-formed"):
        read_metadata(broken)
    with pytest.raises(MetadataError, match="does not exist"):
        read_metadata(tmp_path / "missing.xml")
    bad_json = tmp_path / "d.json"
    bad_json.write_text("{}")
    with pytest.raises(MetadataError, match="not a Planet Data API item"):
        read_metadata(bad_json)


@pytest.fixture(scope="module")
def meta():
    return read_metadata(data_path(XMLS[0]))


dns = arrays(np.uint16, st.tuples(st.just(4), st.integers(1, 6), st.integers(1, 6)))


@settings(max_examples=60, deadline=None)
@given(dns, st.integers(0, 3), st.integers(1, 8))
def test_to_reflectance_is_linear_per_band_and_keeps_nodata(meta, dn, band, factor):
    refl = to_reflectance(dn, meta)
    assert refl.dtype == np.float32 and refl.shape == dn.shape
    assert np.array_equal(np.isnan(refl), dn == 0)
    coef = meta.reflectance_coefficients[band + 1]
    ok = dn[band] > 0
    np.testing.assert_allclose(refl[band][ok], (dn[band][ok] * coef).astype(np.float32), rtol=1e-6)
    scaled = (dn.astype(np.uint32) * factor).clip(0, 65535).astype(np.uint16)
    both = ok & (scaled[band] == dn[band].astype(np.uint32) * factor)
    np.testing.assert_allclose(to_reflectance(scaled, meta)[band][both], refl[band][both] * factor, rtol=1e-5)


@settings(max_examples=30, deadline=None)
@given(dns)
def test_surface_reflectance_scaling(dn):
    refl = to_reflectance(dn, product="analytic_sr_udm2")
    ok = dn > 0
    np.testing.assert_allclose(refl[ok], dn[ok] / np.float32(10000), rtol=1e-6)
    assert np.isnan(refl[~ok]).all()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.uint32, np.int64])
def test_to_reflectance_equals_numpy_bit_for_bit(meta, dtype):
    """The kernel rounds the float64 product once (radiance) and divides in float32 (SR), as numpy does."""
    info = np.iinfo(dtype)
    dn = np.random.default_rng(1).integers(max(info.min, -40000), min(info.max, 2**40), (4, 33, 47), endpoint=True)
    dn = dn.astype(dtype)
    dn[:, ::5, ::3] = 0
    factor = np.array([meta.reflectance_coefficients[b] for b in (1, 2, 3, 4)])[:, None, None]
    expected = (dn * factor).astype(np.float32)
    expected[dn == 0] = np.nan
    np.testing.assert_array_equal(to_reflectance(dn, meta), expected)
    expected = dn.astype(np.float32) / np.float32(10000)
    expected[dn == 0] = np.nan
    np.testing.assert_array_equal(to_reflectance(dn, product="analytic_sr"), expected)


def test_to_reflectance_refusals(meta):
    dn = np.ones((4, 2, 2), np.uint16)
    with pytest.raises(ProductError, match="convert it twice"):
        to_reflectance(dn, meta, product="analytic_sr")
    with pytest.raises(InvalidInputError, match="already reflectance"):
        to_reflectance(dn.astype(np.float32), meta)
    with pytest.raises(ProductError, match="has coefficients for bands"):
        to_reflectance(np.ones((8, 2, 2), np.uint16), meta, product="analytic_8b")
    with pytest.raises(ProductError, match="pass metadata="):
        to_reflectance(dn, product="analytic")
    with pytest.raises(ProductError, match="unknown product"):
        to_reflectance(dn, product="visual")
    with pytest.raises(InvalidInputError, match="shape"):
        to_reflectance(np.ones((1, 4, 2, 2), np.uint16), meta)


def test_band_subset_uses_file_band_numbers(meta):
    dn = np.full((2, 1, 1), 1000, np.uint16)
    refl = to_reflectance(dn, meta, bands=(3, 4))
    assert refl[:, 0, 0].tolist() == pytest.approx(
        [1000 * meta.reflectance_coefficients[3], 1000 * meta.reflectance_coefficients[4]], rel=1e-6
    )


def test_product_names():
    assert normalize_product("analytic_8b_sr_udm2").band_names[1] == "blue"
    assert PRODUCTS["analytic_3b"].band_names == ("red", "green", "blue")
    assert normalize_product("Analytic_SR").surface_reflectance


def _tif(path: Path, count: int, description: str | None = None) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=4, height=3, count=count, dtype="uint16",
                       crs="EPSG:32610", transform=rasterio.transform.from_origin(600000, 4200000, 3, 3)) as ds:
        ds.write(np.ones((count, 3, 4), np.uint16))
        if description:
            ds.update_tags(TIFFTAG_IMAGEDESCRIPTION=description)
    return path


@pytest.mark.parametrize(
    ("name", "count", "description", "expected"),
    [
        ("x_3B_AnalyticMS_clip.tif", 4, None, "analytic"),
        ("x_3B_AnalyticMS_SR_clip.tif", 4, None, "analytic_sr"),
        ("x_3B_AnalyticMS_8b_clip.tif", 8, None, "analytic_8b"),
        ("x_3B_AnalyticMS_SR_8b_harmonized_clip.tif", 8, None, "analytic_8b_sr"),
        ("x_3B_AnalyticMS_clip.tif", 3, None, "analytic_3b"),
        ("renamed.tif", 4, '{"atmospheric_correction": {"aot_method": "fixed"}}', "analytic_sr"),
    ],
)
def test_detect_product(tmp_path, name, count, description, expected):
    assert detect_product(_tif(tmp_path / name, count, description)).name == expected


def test_detect_product_refuses(tmp_path):
    with pytest.raises(ProductError, match="not a PSScene analytic product"):
        detect_product(_tif(tmp_path / "x_3B_Visual.tif", 3))
    with pytest.raises(ProductError, match="not a PSScene analytic product"):
        detect_product(_tif(tmp_path / "two.tif", 2))


UDM = data_path("planet-order-sample/20151119_025740_0c74_3B_udm2_clip.tif")


def test_real_udm2():
    with rasterio.open(UDM) as ds:
        bands = ds.read()
        assert ds.descriptions == ("clear", "snow", "shadow", "haze_light", "haze_heavy", "cloud", "confidence", "udm1")
    mask = udm2_mask(UDM)
    assert np.array_equal(mask, (bands[0] == 1) & (bands[7] == 0))
    inside = bands[7] == 0
    assert (bands[:6].sum(axis=0)[inside] <= 1).all()  # classes are mutually exclusive
    assert 0 < mask.mean() < 1
    strict = udm2_mask(UDM, min_confidence=80)
    assert np.array_equal(strict, mask & (bands[6] >= 80))
    assert np.array_equal(udm2_mask(bands, haze_usable=True), ((bands[0] == 1) | (bands[3] == 1)) & (bands[7] == 0))


def test_udm2_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="shape"):
        udm2_mask(np.zeros((4, 2, 2), np.uint8))
    with pytest.raises(InvalidInputError, match="min_confidence"):
        udm2_mask(np.zeros((8, 2, 2), np.uint8), min_confidence=120)
    with pytest.raises(InvalidInputError, match="a UDM2 has 8"):
        udm2_mask(_tif(tmp_path / "u.tif", 4))


def test_metadata_is_frozen(meta):
    assert isinstance(meta, SceneMetadata)
    with pytest.raises(AttributeError):
        meta.epsg = 1
