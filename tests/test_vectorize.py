import json

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio.features
import scipy.ndimage as ndi
import shapely
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cropseg import CROP, NODATA, NON_CROP, CRSError, InvalidInputError, OutputError
from cropseg.labels import rasterize_labels
from cropseg.vectorize import vectorize, write_geojson

UTM = "EPSG:32610"
T = Affine(3.0, 0.0, 600000.0, 0.0, -3.0, 4200000.0)


def rio_polygons(mask, transform, connectivity):
    return [
        shapely.geometry.shape(geom)
        for geom, _ in rasterio.features.shapes(
            mask.astype(np.uint8), mask=mask, connectivity=connectivity, transform=transform
        )
    ]


def check_exact(class_map, transform, connectivity, value=CROP, nodata=NODATA):
    mask = class_map == value
    fields = vectorize(class_map, transform, UTM, value=value, connectivity=connectivity, nodata=nodata)
    geoms = fields.geometry.values
    pixel_area = abs(transform.determinant)
    # Valid, counter-clockwise exteriors, areas equal pixel counts.
    assert shapely.is_valid(geoms).all()
    parts = shapely.get_parts(geoms)
    assert shapely.is_ccw(shapely.get_exterior_ring(parts)).all()
    assert np.isclose(fields.area_m2.sum(), mask.sum() * pixel_area)
    # Same regions as rasterio.features.shapes: counts, and the union up to float tolerance.
    reference = rio_polygons(mask, transform, connectivity)
    assert len(fields) == len(reference)
    ours = shapely.union_all(geoms)
    theirs = shapely.union_all(shapely.make_valid(np.array(reference, dtype=object)))
    assert shapely.symmetric_difference(ours, theirs).area < 1e-6 * pixel_area
    # Every field is exactly one connected region: burning each gives its region's pixels.
    ids = rasterio.features.rasterize(
        [(g, i + 1) for i, g in enumerate(geoms)], out_shape=class_map.shape, transform=transform
    )
    assert np.array_equal(ids > 0, mask)
    for i, area in enumerate(fields.area_m2, start=1):
        assert np.isclose((ids == i).sum() * pixel_area, area)
    # Round trip through cropseg's own rasterizer.
    labels = rasterize_labels(fields, transform=transform, shape=class_map.shape, crs=UTM)
    assert np.array_equal(labels, np.where(mask, CROP, NON_CROP))
    return fields


masks = arrays(
    np.uint8,
    st.tuples(st.integers(1, 14), st.integers(1, 14)),
    elements=st.sampled_from([0, 1, 1, NODATA]),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masks, st.sampled_from([4, 8]))
def test_random_masks_match_rasterio_and_round_trip(class_map, connectivity):
    if not (class_map == CROP).any():
        class_map[0, 0] = CROP
    check_exact(class_map, T, connectivity)


@settings(max_examples=40, deadline=None)
@given(
    masks,
    st.floats(0.5, 30),
    st.floats(0.5, 30),
    st.floats(-1e6, 1e6),
    st.floats(-1e6, 1e6),
)
def test_non_square_pixels_and_offsets(class_map, xres, yres, x0, y0):
    if not (class_map == CROP).any():
        class_map[-1, -1] = CROP
    check_exact(class_map, Affine(xres, 0, x0, 0, -yres, y0 + 5e6), 8)


def ring(shape, width=1):
    m = np.zeros(shape, np.uint8)
    m[1:-1, 1:-1] = 1
    m[1 + width : -1 - width, 1 + width : -1 - width] = 0
    return m


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize(
    "name",
    ["single", "hole", "island_in_hole", "diagonal", "checkerboard", "border", "pinched_hole", "full"],
)
def test_named_shapes(name, connectivity):
    if name == "single":
        m = np.zeros((3, 3), np.uint8)
        m[1, 1] = 1
    elif name == "hole":
        m = ring((7, 7))
    elif name == "island_in_hole":
        m = ring((9, 9))
        m[4, 4] = 1
    elif name == "diagonal":
        m = np.eye(5, dtype=np.uint8)
    elif name == "checkerboard":
        m = (np.indices((6, 7)).sum(axis=0) % 2).astype(np.uint8)
    elif name == "border":
        m = np.ones((4, 6), np.uint8)
        m[1:3, 2:4] = 0
    elif name == "pinched_hole":
        # Two hole pixels touching at a corner inside a solid block.
        m = np.ones((6, 6), np.uint8)
        m[2, 2] = m[3, 3] = 0
    else:
        m = np.ones((5, 5), np.uint8)
    fields = check_exact(m, T, connectivity)
    if name == "diagonal":
        assert len(fields) == (1 if connectivity == 8 else 5)
        if connectivity == 8:
            assert fields.geometry.iloc[0].geom_type == "MultiPolygon"
    if name == "island_in_hole":
        assert len(fields) == 2
        assert fields.n_holes.tolist() == [1, 0]
    if name == "pinched_hole":
        # One 8-connected hole for connectivity 4, two 4-connected holes for 8: either way the only
        # valid form is two hole rings touching at the corner.
        assert fields.n_holes.tolist() == [2]


def tracing_cases():
    """Masks aimed at the chain-to-crack conversion, the one-pixel shortcut and the ring linking."""
    cases = {}
    m = np.zeros((5, 44), np.uint8)
    m[2, ::2] = 1  # more one-pixel regions in a row than the framing pass records per row
    cases["crowded_one_pixel_regions"] = m
    m = np.ones((5, 44), np.uint8)
    m[2, 1:-1:2] = 0  # more one-pixel holes in a row than recorded per row
    cases["crowded_one_pixel_holes"] = m
    m = np.zeros((6, 6), np.uint8)
    m[0, 0] = m[0, 5] = m[5, 0] = m[5, 5] = 1  # one-pixel regions in the corners
    cases["one_pixel_corners"] = m
    m = np.ones((7, 7), np.uint8)
    m[0, 3] = m[3, 0] = m[6, 6] = 0  # complement pixels on the border are not holes
    m[3, 3] = 0
    cases["holes_at_the_border"] = m
    m = np.zeros((9, 12), np.uint8)
    m[1, 1:11] = 1  # one-pixel-wide lines
    m[2:8, 5] = 1
    m[3:8, 8] = 1
    cases["lines"] = m
    m = np.ones((9, 12), np.uint8)
    m[1:8, 2] = 0  # one-pixel-wide holes: straight, bent, diagonal
    m[4, 3:8] = 0
    for k in range(4):
        m[1 + k, 6 + k] = 0
    cases["line_holes"] = m
    m = np.zeros((7, 7), np.uint8)
    m[1, 1:6] = m[1:6, 1] = m[5, 1:4] = m[3:6, 3] = 1
    m[4, 4] = m[3, 5] = m[2, 5] = 1  # a region that meets itself at a corner around a hole
    cases["self_pinch"] = m
    m = np.ones((9, 9), np.uint8)
    m[2:7, 2:7] = 0
    m[4, 4] = 1
    m[1, 1] = 0  # a one-pixel hole touching the big hole at a corner
    m[3, 3] = 1  # an island touching the hole's rim at a corner
    cases["pinches_in_holes"] = m
    m = np.zeros((13, 13), np.uint8)
    m[1:12, 1:12] = 1
    m[3:10, 3:10] = 0
    m[4:9, 4:9] = 1
    m[5:8, 5:8] = 0
    m[6, 6] = 1  # island in a hole in an island in a hole
    cases["nested"] = m
    rng = np.random.default_rng(7)
    m = (rng.random((40, 50)) < 0.5).astype(np.uint8)
    m[5:30, 10:40] = rng.random((25, 30)) < 0.9
    cases["noisy"] = m
    return cases


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("name", list(tracing_cases()))
def test_tracing_cases_match_rasterio(name, connectivity):
    check_exact(tracing_cases()[name], T, connectivity)


@pytest.mark.parametrize(
    "transform",
    [
        Affine(2.0, 0, 500.0, 0, 3.0, 100.0),
        Affine(-2.0, 0, 500.0, 0, -3.0, 100.0),
        Affine(-2.0, 0, 500.0, 0, 3.0, 100.0),
    ],
    ids=["south-up", "east-left", "both-flipped"],
)
def test_orientation_follows_the_transform(transform):
    fields = check_exact(tracing_cases()["nested"], transform, 8)
    holes = shapely.get_interior_ring(shapely.get_parts(fields.geometry.values), 0)
    assert not shapely.is_ccw(holes[~shapely.is_missing(holes)]).any()


def test_holes_false_fills_one_pixel_and_traced_holes():
    m = tracing_cases()["pinches_in_holes"]
    for connectivity in (4, 8):
        filled = vectorize(m, T, UTM, connectivity=connectivity, holes=False)
        assert filled.n_holes.sum() == 0
        outer = shapely.union_all(filled.geometry.values)
        assert outer.area == pytest.approx(9 * 9 * 9.0)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masks, st.sampled_from([4, 8]))
def test_holes_false_fills_each_field(class_map, connectivity):
    if not (class_map == CROP).any():
        class_map[0, 0] = CROP
    filled = vectorize(class_map, T, UTM, connectivity=connectivity, holes=False)
    geoms = filled.geometry.values
    assert shapely.is_valid(geoms).all()
    assert (shapely.get_num_interior_rings(shapely.get_parts(geoms)) == 0).all()
    assert filled.n_holes.eq(0).all()
    # Each field burns exactly its region with the region's holes filled: the 4-connected components
    # of everything else that do not reach the edge (a polygon's outline passes through the corners
    # where its pixels touch diagonally, so nothing crosses there). Regions and fields are both
    # numbered in raster order.
    regions, n = ndi.label(class_map == CROP, structure=np.ones((3, 3)) if connectivity == 8 else None)
    assert len(filled) == n
    for i, geom in enumerate(geoms, start=1):
        expected = ndi.binary_fill_holes(regions == i)
        burnt = rasterio.features.rasterize([(geom, 1)], out_shape=class_map.shape, transform=T)
        assert np.array_equal(burnt == 1, expected)
        assert filled.area_m2.iloc[i - 1] == pytest.approx(expected.sum() * 9.0)


def test_holes_false_fills_holes_enclosed_by_parts_touching_at_corners():
    m = np.zeros((11, 11), np.uint8)
    rows, cols = np.indices(m.shape)
    m[np.abs(rows - 5) + np.abs(cols - 5) == 4] = 1  # a diamond of pixels touching at corners
    fields = vectorize(m, T, UTM, holes=False)
    assert len(fields) == 1 and fields.geometry.iloc[0].geom_type == "Polygon"
    assert fields.area_m2.iloc[0] == pytest.approx(41 * 9.0)  # every pixel within the diamond
    # With connectivity 4 the pixels are fields of their own, with nothing to fill.
    assert vectorize(m, T, UTM, holes=False, connectivity=4).area_m2.tolist() == [9.0] * 16


def test_holes_false_drops_islands_touching_their_hole_at_a_corner():
    m = ring((10, 10), width=1)
    m[2, 2] = 1  # fills the rim's inner corner
    m[3, 3] = 1  # touches the rim at a corner, inside the hole
    m[4, 4:6] = 1  # touches that island at a corner
    filled = vectorize(m, T, UTM, holes=False)
    assert len(filled) == 1 and shapely.is_valid(filled.geometry.iloc[0])
    assert filled.geometry.iloc[0].geom_type == "Polygon"
    assert filled.area_m2.iloc[0] == pytest.approx(8 * 8 * 9.0)
    # With connectivity 4 the islands are fields of their own, inside the filled field.
    assert vectorize(m, T, UTM, holes=False, connectivity=4).area_m2.tolist() == [8 * 8 * 9.0, 9.0, 18.0]


def test_nodata_never_part_of_a_field():
    m = np.full((5, 5), NODATA, np.uint8)
    m[1:4, 1:4] = CROP
    m[2, 2] = NODATA
    fields = vectorize(m, T, UTM)
    assert fields.n_holes.tolist() == [1]
    assert fields.area_m2.tolist() == [8 * 9.0]
    # Fields of nodata cannot be asked for.
    with pytest.raises(InvalidInputError, match="equals nodata"):
        vectorize(m, T, UTM, value=NODATA)


def test_other_values_and_dtypes():
    m = np.zeros((6, 6), np.uint16)
    m[1:3, 1:3] = 7
    m[4:, 4:] = 7
    fields = vectorize(m, T, UTM, value=7, nodata=None)
    assert len(fields) == 2
    assert fields.field_id.tolist() == [1, 2]
    assert fields.crs == pyproj.CRS(UTM)


def test_bool_and_signed_maps():
    m = np.zeros((6, 7), np.int8)
    m[1:4, 1:4] = -3
    m[5, 6] = -3
    assert len(vectorize(m, T, UTM, value=-3)) == 2
    assert len(vectorize(m == -3, T, UTM, value=True, nodata=None)) == 2


def test_columns_and_perimeter():
    m = np.zeros((5, 6), np.uint8)
    m[1:4, 1:5] = 1
    fields = vectorize(m, T, UTM)
    assert list(fields.columns) == ["field_id", "area_m2", "perimeter_m", "n_holes", "geometry"]
    assert fields.perimeter_m.iloc[0] == pytest.approx(2 * (3 + 4) * 3.0)


def test_geographic_crs_measures_geodesically():
    m = np.zeros((4, 4), np.uint8)
    m[1:3, 1:3] = 1
    transform = Affine(0.001, 0, -121.5, 0, -0.001, 38.3)
    fields = vectorize(m, transform, "EPSG:4326")
    area, perimeter = pyproj.Geod(ellps="WGS84").geometry_area_perimeter(fields.geometry.iloc[0])
    assert fields.area_m2.iloc[0] == pytest.approx(abs(area))
    assert fields.perimeter_m.iloc[0] == pytest.approx(perimeter)
    assert 35_000 < fields.area_m2.iloc[0] < 42_000  # about 175 m x 222 m


def test_min_area_and_fill_holes():
    m = ring((9, 9))
    m[0, 0] = 1  # a one-pixel field elsewhere
    assert len(vectorize(m, T, UTM, connectivity=4)) == 2
    fields = vectorize(m, T, UTM, min_area=10.0, connectivity=4)
    assert len(fields) == 1 and fields.n_holes.iloc[0] == 1
    assert fields.field_id.tolist() == [1]
    filled = vectorize(m, T, UTM, holes=False, min_area=10.0, connectivity=4)
    assert filled.n_holes.tolist() == [0]
    assert filled.area_m2.iloc[0] == pytest.approx(7 * 7 * 9.0)


def test_simplify_keeps_a_valid_coverage_without_overlaps():
    rng = np.random.default_rng(3)
    m = np.zeros((60, 60), np.uint8)
    for r0, c0 in rng.integers(0, 50, (12, 2)):
        m[r0 : r0 + rng.integers(4, 12), c0 : c0 + rng.integers(4, 12)] = 1
    fields = vectorize(m, T, UTM, simplify=6.0, connectivity=4)
    geoms = fields.geometry.values
    assert shapely.is_valid(geoms).all()
    union = shapely.union_all(geoms)
    assert union.area == pytest.approx(shapely.area(geoms).sum())
    assert (
        shapely.get_num_coordinates(geoms).sum()
        <= shapely.get_num_coordinates(vectorize(m, T, UTM, connectivity=4).geometry.values).sum()
    )


def test_write_geojson_rfc7946(tmp_path):
    m = ring((8, 8))
    fields = vectorize(m, T, UTM)
    out = tmp_path / "fields.geojson"
    write_geojson(fields, out, precision=6)
    doc = json.loads(out.read_text())
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    feature = doc["features"][0]
    assert feature["properties"]["field_id"] == 1
    assert feature["properties"]["n_holes"] == 1
    shell, hole = feature["geometry"]["coordinates"]
    assert shapely.LinearRing(shell).is_ccw and not shapely.LinearRing(hole).is_ccw
    lon, lat = shell[0]
    assert -180 <= lon <= 180 and -90 <= lat <= 90
    assert all(len(f"{v:.15g}".split(".")[-1]) <= 6 for xy in shell for v in xy)
    assert [p.name for p in tmp_path.iterdir()] == ["fields.geojson"]
    back = gpd.read_file(out)
    expected = fields.to_crs("EPSG:4326").geometry.iloc[0]
    assert shapely.hausdorff_distance(back.geometry.iloc[0], expected) <= 1e-6


@pytest.mark.parametrize(("driver", "suffix"), [("GPKG", ".gpkg"), ("FlatGeobuf", ".fgb")])
def test_fields_write_with_geopandas(tmp_path, driver, suffix):
    fields = vectorize(ring((8, 8)), T, UTM)
    fields.to_file(tmp_path / f"f{suffix}", driver=driver)
    back = gpd.read_file(tmp_path / f"f{suffix}")
    assert back.field_id.tolist() == [1] and back.area_m2.tolist() == fields.area_m2.tolist()


def test_geoparquet(tmp_path):
    pytest.importorskip("pyarrow")
    fields = vectorize(ring((8, 8)), T, UTM)
    fields.to_parquet(tmp_path / "f.parquet")
    assert gpd.read_parquet(tmp_path / "f.parquet").n_holes.tolist() == [1]


def test_write_geojson_is_atomic(tmp_path):
    out = tmp_path / "fields.geojson"
    out.write_text("old")
    fields = vectorize(ring((8, 8)), T, UTM)
    fields["bad"] = [object()]  # not JSON serialisable: the write fails before the rename
    with pytest.raises(TypeError):
        write_geojson(fields, out)
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["fields.geojson"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"class_map": np.ones((2, 2, 2), np.uint8)}, InvalidInputError, "class_map must be 2-D"),
        ({"class_map": np.ones((2, 2), np.float32)}, InvalidInputError, "integer class codes"),
        ({"transform": "not an affine"}, InvalidInputError, "transform must be an affine.Affine"),
        ({"crs": None}, CRSError, "crs is missing"),
        ({"crs": "EPSG:99999999"}, CRSError, "not a valid CRS"),
        ({"value": 5}, InvalidInputError, "value 5 does not occur"),
        ({"value": 300}, InvalidInputError, "value 300 does not occur"),
        ({"value": -1}, InvalidInputError, "value -1 does not occur"),
        ({"connectivity": 6}, InvalidInputError, "6 is not a valid option for 'connectivity'"),
        ({"min_area": -1.0}, InvalidInputError, "min_area must be"),
        ({"simplify": -2.0}, InvalidInputError, "simplify must be"),
    ],
)
def test_bad_input(kwargs, error, match):
    args = {"class_map": np.ones((3, 3), np.uint8), "transform": T, "crs": UTM}
    args.update(kwargs)
    cm, tr, crs = args.pop("class_map"), args.pop("transform"), args.pop("crs")
    with pytest.raises(error, match=match):
        vectorize(cm, tr, crs, **args)


def test_write_geojson_bad_input(tmp_path):
    fields = vectorize(np.ones((2, 2), np.uint8), T, UTM)
    with pytest.raises(InvalidInputError, match="GeoDataFrame"):
        write_geojson({"type": "FeatureCollection"}, tmp_path / "x.geojson")
    with pytest.raises(InvalidInputError, match="has no CRS"):
        write_geojson(gpd.GeoDataFrame(geometry=list(fields.geometry)), tmp_path / "x.geojson")
    with pytest.raises(InvalidInputError, match="precision must be"):
        write_geojson(fields, tmp_path / "x.geojson", precision=20)
    with pytest.raises(OutputError, match="does not exist"):
        write_geojson(fields, tmp_path / "missing" / "x.geojson")
