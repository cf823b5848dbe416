import json
import warnings
from pathlib import Path

import cv2
import geopandas as gpd
import numpy as np
import pytest
import rasterio.features
import shapely
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.crs import CRS
from shapely.geometry import MultiPolygon, Point, Polygon, box, mapping

import cropseg
from cropseg.errors import CropsegIOError, CRSError, GeometryError, GeometryWarning, InvalidInputError
from cropseg.labels import label_contours, rasterize_labels, read_ground_truth
from cropseg.scene import Scene
from cropseg.types import CROP, NODATA, NON_CROP

DATA = Path(cropseg.__file__).parent / "datasets" / "data" / "sacramento"
UTM = "EPSG:32610"


def aoi_grid(name, res):
    """A north-up EPSG:32610 grid covering the AOI, snapped outward to the resolution."""
    aoi = read_ground_truth(DATA / f"aoi-{name}.geojson").to_crs(UTM)
    left, bottom, right, top = aoi.total_bounds
    x0, y0 = np.floor(left / res) * res, np.ceil(top / res) * res
    shape = (int(np.ceil((y0 - bottom) / res)), int(np.ceil((right - x0) / res)))
    return Affine(res, 0, x0, 0, -res, y0), shape


def reference(geoms, values, transform, shape, all_touched):
    return rasterio.features.rasterize(
        list(zip(geoms, values, strict=True)),
        out_shape=shape,
        transform=transform,
        all_touched=all_touched,
        fill=NON_CROP,
        dtype="uint8",
    )


@pytest.fixture(scope="module", params=["train", "test"])
def sacramento(request):
    gt = read_ground_truth(DATA / f"ground-truth-{request.param}.geojson")
    return request.param, gt, gt.to_crs(UTM)


# ------------------------------------------------------------------------------------------------
# Exactness on the real Sacramento ground truth
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("res", [3.0, 1.0])
@pytest.mark.parametrize("all_touched", [False, True])
def test_sacramento_equals_rasterio(sacramento, res, all_touched):
    name, gt, gt_utm = sacramento
    transform, shape = aoi_grid(name, res)
    # reprojection happens inside rasterize_labels (from EPSG:4326 GeoJSON)
    ours = rasterize_labels(gt, transform=transform, shape=shape, crs=UTM, all_touched=all_touched)
    ref = reference(gt_utm.geometry, [CROP] * len(gt_utm), transform, shape, all_touched)
    assert ours.dtype == np.uint8 and ours.shape == shape
    n_holes = int(shapely.get_num_interior_rings(shapely.get_parts(gt_utm.geometry.values)).sum())
    assert n_holes > 0  # the real data has holes, so they are covered
    assert ref.sum() > 1_000_000
    np.testing.assert_array_equal(ours, ref)


def test_sacramento_crop_classes_and_overwrite_order(sacramento):
    name, gt, gt_utm = sacramento
    transform, shape = aoi_grid(name, 3.0)
    crop = {"F", "G", "P", "T"}
    ours = rasterize_labels(gt, transform=transform, shape=shape, crs=UTM, column="CLASS1", classes=crop)
    values = np.where(gt_utm["CLASS1"].isin(crop), CROP, NON_CROP)
    np.testing.assert_array_equal(ours, reference(gt_utm.geometry, values, transform, shape, False))
    assert set(np.unique(ours)) == {CROP, NON_CROP}


# ------------------------------------------------------------------------------------------------
# Hypothesis: random polygons on random grids
# ------------------------------------------------------------------------------------------------

half = st.integers(-6, 70).map(lambda k: k / 2)  # pixel centres and edges exactly
offgrid = st.floats(-3, 35, allow_nan=False)
coord = st.one_of(half, half, offgrid)


@st.composite
def star_polygon(draw, snap):
    """A simple polygon: vertices at increasing angles around a centre (optionally on half pixels)."""
    n = draw(st.integers(3, 9))
    cx, cy = draw(offgrid), draw(offgrid)
    angles = sorted(draw(st.lists(st.floats(0, 6.28), min_size=n, max_size=n, unique=True)))
    radii = draw(st.lists(st.floats(0.4, 20), min_size=n, max_size=n))
    pts = np.c_[cx + np.array(radii) * np.cos(angles), cy + np.array(radii) * np.sin(angles)]
    if snap:
        pts = np.round(pts * 2) / 2
    return Polygon(pts)


@st.composite
def ground_truth_in_pixels(draw):
    geoms = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["box", "star", "snapped-star", "holed", "multi"]))
        if kind == "box":
            x0, y0, x1, y1 = (draw(coord) for _ in range(4))
            g = box(min(x0, x1), min(y0, y1), max(x0, x1) + 0.5, max(y0, y1) + 0.5)
        elif kind in ("star", "snapped-star"):
            g = draw(star_polygon(kind == "snapped-star"))
        elif kind == "holed":
            x0, y0 = draw(half), draw(half)
            outer = box(x0, y0, x0 + draw(st.integers(4, 30)), y0 + draw(st.integers(4, 30)))
            inner = draw(star_polygon(draw(st.booleans())))
            g = outer.difference(inner) if inner.is_valid else outer
        else:
            a, b = draw(star_polygon(True)), draw(star_polygon(False))
            g = MultiPolygon([a, b]) if a.is_valid and b.is_valid and a.disjoint(b) else a
        if g.is_valid and not g.is_empty and g.area > 0:
            geoms.append(g)
    return geoms


grids = st.builds(
    lambda rows, cols, rx, ry, x0, y0, rot: (
        (rows, cols),
        Affine(rx, rot[0] * rx, x0, rot[1] * ry, -ry, y0),
    ),
    st.integers(1, 32),
    st.integers(1, 32),
    st.sampled_from([1.0, 3.0, 0.5, 2.5, 0.3]),  # non-square pixels when rx != ry
    st.sampled_from([1.0, 3.0, 0.5, 2.5, 0.3]),
    st.sampled_from([0.0, 600000.0, 623716.5, 12.345]),
    st.sampled_from([0.0, 4243156.0, 4239128.25, -7.5]),
    st.one_of(st.just((0.0, 0.0)), st.tuples(st.floats(-0.4, 0.4), st.floats(-0.4, 0.4))),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geoms=ground_truth_in_pixels(), grid=grids, all_touched=st.booleans(), seed=st.integers(0, 100))
def test_random_polygons_equal_rasterio(geoms, grid, all_touched, seed):
    shape, transform = grid
    geoms = [
        shapely.affinity.affine_transform(g, [transform.a, transform.b, transform.d, transform.e,
                                              transform.c, transform.f])
        for g in geoms
    ]
    geoms = [g for g in geoms if g.is_valid and not g.is_empty]
    if not geoms:
        return
    values = np.random.default_rng(seed).integers(0, 2, len(geoms))  # overlaps: later features win
    frame = gpd.GeoDataFrame({"code": values}, geometry=geoms, crs=UTM)
    ref = reference(geoms, values.tolist(), transform, shape, all_touched)
    try:
        ours = rasterize_labels(frame, transform=transform, shape=shape, crs=UTM, column="code",
                                all_touched=all_touched)
    except GeometryError as exc:
        assert "no ground-truth polygon overlaps" in str(exc)
        assert not ref.any()
        return
    np.testing.assert_array_equal(ours, ref)


def test_ties_on_pixel_centres_and_edges():
    # Vertices and horizontal / vertical edges exactly on pixel centres and pixel edges.
    transform = Affine(3.0, 0, 600000.0, 0, -3.0, 4200000.0)
    shape = (12, 12)
    px = [
        box(1.5, 1.5, 6.5, 4.5),  # edges through centres
        box(7, 1, 10, 3),  # edges on pixel borders
        Polygon([(1.5, 6.5), (5.5, 6.5), (3.5, 10.5)]),  # vertices on centres
        Polygon([(6.5, 6), (11, 6.5), (10.5, 11), (7, 10.5)], [[(8.5, 8), (9.5, 8.5), (9, 9.5)]]),
    ]
    geoms = [shapely.affinity.affine_transform(g, [3, 0, 0, -3, 600000.0, 4200000.0]) for g in px]
    for all_touched in (False, True):
        ours = rasterize_labels(geoms, transform=transform, shape=shape, crs=UTM, source_crs=UTM,
                                all_touched=all_touched)
        np.testing.assert_array_equal(ours, reference(geoms, [1] * 4, transform, shape, all_touched))


# ------------------------------------------------------------------------------------------------
# Input forms
# ------------------------------------------------------------------------------------------------

FIELD = box(600003.0, 4199988.0, 600015.0, 4199997.0)
GRID = {"transform": Affine(3, 0, 600000.0, 0, -3, 4200000.0), "shape": (6, 8), "crs": UTM}


def expected_field():
    return reference([FIELD], [CROP], GRID["transform"], GRID["shape"], False)


class GeoInterface:
    def __init__(self, geom):
        self.__geo_interface__ = mapping(geom)


class FeatureLike:
    def __init__(self, geom, props):
        self.__geo_interface__ = {"type": "Feature", "properties": props, "geometry": mapping(geom)}


def test_input_forms_all_agree(tmp_path):
    frame = gpd.GeoDataFrame({"CLASS1": ["F"]}, geometry=[FIELD], crs=UTM)
    wgs = frame.to_crs(4326)
    fc = json.loads(wgs.to_json())
    bare_list = fc["features"]
    (tmp_path / "list.geojson").write_text(json.dumps(bare_list))
    (tmp_path / "fc.json").write_text(json.dumps(fc))
    frame.to_file(tmp_path / "gt.gpkg")
    expected = expected_field()
    forms = {
        "gdf": (frame, {}),
        "geoseries": (frame.geometry, {}),
        "gdf-4326": (wgs, {}),
        "fc": (fc, {}),
        "list": (bare_list, {}),
        "path-list": (tmp_path / "list.geojson", {}),
        "path-fc-str": (str(tmp_path / "fc.json"), {}),
        "gpkg": (tmp_path / "gt.gpkg", {}),
        "shapely": ([FIELD], {"source_crs": UTM}),
        "single-shapely": (FIELD, {"source_crs": UTM}),
        "geo-interface": ([GeoInterface(FIELD)], {"source_crs": UTM}),
        "feature-objects": ([FeatureLike(g, {}) for g in wgs.geometry], {}),
        "geometry-dict": (mapping(wgs.geometry.iloc[0]), {}),
    }
    for name, (source, kwargs) in forms.items():
        out = rasterize_labels(source, **GRID, **kwargs)
        np.testing.assert_array_equal(out, expected, err_msg=name)


def test_read_ground_truth_real_file_keeps_attributes():
    gt = read_ground_truth(DATA / "ground-truth-train.geojson")
    assert gt.crs == CRS.from_epsg(4326)
    assert len(gt) == len(json.loads((DATA / "ground-truth-train.geojson").read_text()))
    assert {"CLASS1", "ACRES"} <= set(gt.columns)
    assert set(gt.geom_type) == {"Polygon", "MultiPolygon"}


def test_legacy_crs_member_and_conflicts(tmp_path):
    fc = json.loads(gpd.GeoDataFrame(geometry=[FIELD], crs=UTM).to_json(to_wgs84=False))
    fc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32610"}}
    np.testing.assert_array_equal(rasterize_labels(fc, **GRID), expected_field())
    with pytest.raises(CRSError, match="declares CRS .*32610.* but crs='EPSG:4326' was passed"):
        read_ground_truth(fc, crs="EPSG:4326")
    # a legacy GeoJSON in UTM without a crs member needs crs= (else it is read as EPSG:4326)
    del fc["crs"]
    assert read_ground_truth(fc, crs=UTM).crs == CRS.from_user_input(UTM)
    frame = gpd.GeoDataFrame(geometry=[FIELD], crs=UTM)
    with pytest.raises(CRSError, match="is in EPSG:32610 but crs='EPSG:4326' was passed"):
        read_ground_truth(frame, crs="EPSG:4326")


def test_missing_crs_errors(tmp_path):
    with pytest.raises(CRSError, match="ground truth geometries carry no CRS; pass crs="):
        rasterize_labels([FIELD], **GRID)
    with pytest.raises(CRSError, match="ground truth GeoDataFrame has no CRS; pass crs="):
        rasterize_labels(gpd.GeoDataFrame(geometry=[FIELD]), **GRID)
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        gpd.GeoDataFrame(geometry=[FIELD]).to_file(tmp_path / "noprj.shp")
    with pytest.raises(CRSError, match=r"noprj.shp' has no CRS; pass crs="):
        rasterize_labels(tmp_path / "noprj.shp", **GRID)
    out = rasterize_labels(tmp_path / "noprj.shp", **GRID, source_crs=UTM)
    np.testing.assert_array_equal(out, expected_field())


def test_bad_sources(tmp_path):
    with pytest.raises(CropsegIOError, match="does not exist"):
        rasterize_labels(tmp_path / "missing.gpkg", **GRID)
    (tmp_path / "broken.geojson").write_text("{not json")
    with pytest.raises(CropsegIOError, match="is not readable JSON"):
        rasterize_labels(tmp_path / "broken.geojson", **GRID)
    (tmp_path / "junk.gpkg").write_text("junk")
    with pytest.raises(CropsegIOError, match="cannot be read by OGR"):
        rasterize_labels(tmp_path / "junk.gpkg", **GRID)
    with pytest.raises(GeometryError, match=r"ground truth\[1\] is not a GeoJSON Feature"):
        read_ground_truth([{"type": "Feature", "properties": {}, "geometry": None}, {"a": 1}])
    with pytest.raises(GeometryError, match="ground truth item 0 is a int, not a geometry"):
        read_ground_truth([1, 2], crs=UTM)
    with pytest.raises(GeometryError, match="type 'Topology'; expected a GeoJSON FeatureCollection"):
        read_ground_truth({"type": "Topology"})
    with pytest.raises(GeometryError, match="ground truth of type int is not understood"):
        read_ground_truth(5)
    with pytest.raises(CRSError, match="crs 'EPSG:99999999' is not a valid CRS"):
        read_ground_truth([FIELD], crs="EPSG:99999999")


# ------------------------------------------------------------------------------------------------
# Scenes, classes, repairs and bad input
# ------------------------------------------------------------------------------------------------


def make_scene(valid):
    rows, cols = valid.shape
    refl = np.ones((4, rows, cols), np.float32)
    refl[:, ~valid] = np.nan
    return Scene(reflectance=refl, valid=valid, transform=GRID["transform"], crs=CRS.from_user_input(UTM),
                 band_names=("blue", "green", "red", "nir"), product="analytic")


def test_like_scene_sets_nodata():
    valid = np.ones(GRID["shape"], bool)
    valid[0, :] = False
    valid[2, 2] = False
    out = rasterize_labels([FIELD], like=make_scene(valid), source_crs=UTM)
    expected = np.where(valid, expected_field(), NODATA)
    np.testing.assert_array_equal(out, expected)
    assert out[2, 2] == NODATA and (out == CROP).any()


def test_classes_mapping_and_codes():
    geoms = [box(600003, 4199991, 600009, 4199997), box(600012, 4199991, 600018, 4199997),
             box(600003, 4199982, 600009, 4199988)]
    frame = gpd.GeoDataFrame({"CLASS1": ["F", "U", "X"], "code": [1, 0, 255]}, geometry=geoms, crs=UTM)
    t, shape = GRID["transform"], GRID["shape"]
    mapped = rasterize_labels(frame, **GRID, column="CLASS1", classes={"F": CROP, "U": NON_CROP, "X": NODATA})
    np.testing.assert_array_equal(mapped, reference(geoms, [1, 0, 255], t, shape, False))
    np.testing.assert_array_equal(rasterize_labels(frame, **GRID, column="code"), mapped)
    with pytest.warns(GeometryWarning, match=r"1 ground-truth features have a .CLASS1. value not in") as rec:
        partial = rasterize_labels(frame, **GRID, column="CLASS1", classes={"F": CROP, "U": NON_CROP})
    assert rec[0].filename == __file__  # the warning points at the caller
    np.testing.assert_array_equal(partial, reference(geoms[:2], [1, 0], t, shape, False))
    single = rasterize_labels(frame, **GRID, column="CLASS1", classes="F")
    np.testing.assert_array_equal(single, reference(geoms[:1], [1], t, shape, False))


def test_class_errors():
    frame = gpd.GeoDataFrame({"CLASS1": ["F", "G"]}, geometry=[FIELD, FIELD], crs=UTM)
    with pytest.raises(InvalidInputError, match=r"column 'CLAS1' is not in the ground truth; its columns"):
        rasterize_labels(frame, **GRID, column="CLAS1")
    with pytest.raises(InvalidInputError, match=r"classes \['Z'\] match no value of column 'CLASS1'; it"):
        rasterize_labels(frame, **GRID, column="CLASS1", classes={"Z"})
    with pytest.raises(InvalidInputError, match=r"classes \['Z'\] match no value of column 'CLASS1'"):
        rasterize_labels(frame, **GRID, column="CLASS1", classes={"Z": CROP})
    with pytest.raises(InvalidInputError, match="classes= needs column="):
        rasterize_labels(frame, **GRID, classes={"F"})
    with pytest.raises(InvalidInputError, match="column 'CLASS1' holds 'F', not a class code 0..255"):
        rasterize_labels(frame, **GRID, column="CLASS1")
    with pytest.raises(InvalidInputError, match=r"classes\['F'\] = 7.5 is not a class code"):
        rasterize_labels(frame, **GRID, column="CLASS1", classes={"F": 7.5})


def test_invalid_geometries_repaired_with_one_warning():
    bowtie = Polygon([(600003, 4199997), (600015, 4199988), (600015, 4199997), (600003, 4199988)])
    assert not bowtie.is_valid
    with pytest.warns(GeometryWarning, match=r"2 ground-truth geometries were invalid and were") as rec:
        out = rasterize_labels([bowtie, bowtie], **GRID, source_crs=UTM)
    assert len(rec) == 1 and rec[0].filename == __file__
    repaired = shapely.make_valid(bowtie)
    assert repaired.geom_type == "MultiPolygon"
    np.testing.assert_array_equal(out, reference([repaired], [1], GRID["transform"], GRID["shape"], False))


def test_null_empty_and_non_polygon_skipped():
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": None},
        {"type": "Feature", "properties": {}, "geometry": mapping(Polygon())},
        {"type": "Feature", "properties": {}, "geometry": mapping(Point(600005, 4199990))},
        {"type": "Feature", "properties": {}, "geometry": mapping(FIELD)},
    ]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = rasterize_labels(fc, **GRID, source_crs=UTM)
    messages = [str(w.message) for w in caught if issubclass(w.category, GeometryWarning)]
    assert any("2 ground-truth features have a null or empty geometry; skipped" in m for m in messages)
    assert any("1 ground-truth features have no polygon (points or lines); skipped" in m for m in messages)
    np.testing.assert_array_equal(out, expected_field())


def test_partly_outside_and_geometry_collection():
    big = box(599990, 4199970, 600050, 4200010)  # covers the whole raster and beyond
    ring = big.difference(box(600006, 4199988, 600012, 4199994))
    gc = shapely.GeometryCollection([ring, Point(0, 0)])
    out = rasterize_labels([gc], **GRID, source_crs=UTM)
    np.testing.assert_array_equal(out, reference([ring], [1], GRID["transform"], GRID["shape"], False))
    assert (out == NON_CROP).sum() == 4


def test_no_overlap_and_empty_errors():
    far = box(0, 0, 10, 10)
    with pytest.raises(GeometryError, match="no ground-truth polygon overlaps the raster.*check the ground"):
        rasterize_labels([far], **GRID, source_crs=UTM)
    # the classic mistake: UTM coordinates labelled as EPSG:4326
    with pytest.raises(GeometryError, match="no ground-truth polygon overlaps the raster"):
        rasterize_labels(gpd.GeoDataFrame(geometry=[box(-121.6, 38.2, -121.5, 38.3)], crs=UTM), **GRID)
    with pytest.raises(GeometryError, match="the ground truth has no features"):
        rasterize_labels({"type": "FeatureCollection", "features": []}, **GRID)


def test_grid_errors():
    scene = make_scene(np.ones(GRID["shape"], bool))
    with pytest.raises(InvalidInputError, match="the pixel grid is missing: pass like=scene"):
        rasterize_labels([FIELD], source_crs=UTM)
    with pytest.raises(InvalidInputError, match="pass either like= or transform=/shape=/crs=, not both"):
        rasterize_labels([FIELD], like=scene, crs=UTM, source_crs=UTM)
    with pytest.raises(InvalidInputError, match="like must be a cropseg Scene, got ndarray"):
        rasterize_labels([FIELD], like=np.zeros((3, 3)), source_crs=UTM)
    with pytest.raises(InvalidInputError, match="all_touched must be True or False, got 'yes'"):
        rasterize_labels([FIELD], **GRID, source_crs=UTM, all_touched="yes")
    with pytest.raises(CRSError, match="crs is missing"):
        rasterize_labels([FIELD], transform=GRID["transform"], shape=GRID["shape"], source_crs=UTM)
    with pytest.raises(InvalidInputError, match="shape must be positive"):
        rasterize_labels([FIELD], transform=GRID["transform"], shape=(0, 3), crs=UTM, source_crs=UTM)
    with pytest.raises(InvalidInputError, match="transform must be an affine.Affine"):
        rasterize_labels([FIELD], transform="3m", shape=(3, 3), crs=UTM, source_crs=UTM)


# ------------------------------------------------------------------------------------------------
# Contours
# ------------------------------------------------------------------------------------------------


def test_label_contours_pixel_space_and_hierarchy():
    t = GRID["transform"]
    holed = Polygon(
        [(600000, 4200000), (600018, 4200000), (600018, 4199985), (600000, 4199985)],
        [[(600003, 4199997), (600006, 4199997), (600006, 4199994)],
         [(600009, 4199991), (600015, 4199991), (600015, 4199988), (600009, 4199988)]],
    )
    multi = MultiPolygon([box(600019.5, 4199982, 600022.5, 4199988), box(600019.5, 4199995, 600024, 4199999)])
    contours, hierarchy = label_contours([holed, multi], **GRID, source_crs=UTM)
    assert len(contours) == 5 and hierarchy.shape == (1, 5, 4) and hierarchy.dtype == np.int32
    # [next, previous, first_child, parent]: holed exterior, its 2 holes, then the two multipolygon parts
    assert hierarchy[0].tolist() == [
        [3, -1, 1, -1],
        [2, -1, -1, 0],
        [-1, 1, -1, 0],
        [4, 0, -1, -1],
        [-1, 3, -1, -1],
    ]
    rings = [holed.exterior, *holed.interiors, *(p.exterior for p in multi.geoms)]
    for contour, ring in zip(contours, rings, strict=True):
        assert contour.shape[1:] == (1, 2)
        back = np.array([t @ tuple(p) for p in contour[:, 0]])
        # same ring, possibly reversed to GDAL's clockwise order
        assert Polygon(back).equals(Polygon(ring))
        assert not shapely.is_ccw(shapely.LinearRing(back))


def test_contours_match_opencv():
    gt = read_ground_truth(DATA / "ground-truth-train.geojson")
    transform, shape = aoi_grid("train", 3.0)
    contours, hierarchy = label_contours(gt, transform=transform, shape=shape, crs=UTM)
    cv_contours, cv_hierarchy = label_contours(gt, transform=transform, shape=shape, crs=UTM, shift=8)
    np.testing.assert_array_equal(cv_hierarchy, hierarchy)
    for c, cv in zip(contours, cv_contours, strict=True):
        assert cv.dtype == np.int32 and cv.shape == c.shape
        np.testing.assert_allclose(cv / 256 + 0.5, c, atol=1 / 512)
    labels = rasterize_labels(gt, transform=transform, shape=shape, crs=UTM)
    # Fill the contours with OpenCV (holes cleared after their exterior via the hierarchy).
    canvas = np.zeros(shape, np.uint8)
    for i, pts in enumerate(cv_contours):
        cv2.fillPoly(canvas, [pts], 0 if hierarchy[0, i, 3] >= 0 else 1, shift=8)
    agreement = (canvas == labels).mean()
    extra = np.count_nonzero((canvas == 1) & (labels == 0))
    missing = np.count_nonzero((canvas == 0) & (labels == 1))
    # fillPoly also paints boundary pixels whose centres are outside: about 98.7 % agreement, nearly all
    # of the difference is extra boundary pixels (the measured reference: 31 014 extra, 239 missing)
    assert 0.98 < agreement < 1.0
    assert missing < 0.01 * extra
    with pytest.raises(InvalidInputError, match="shift must be an int from 0 to 16"):
        label_contours(gt, transform=transform, shape=shape, crs=UTM, shift=20)



def test_ring_arrays_equal_shapely_ragged_array(sacramento):
    from cropseg.labels import _ring_arrays

    _, _, gt_utm = sacramento
    parts = shapely.get_parts(gt_utm.geometry.values)
    extra = [Polygon([(0, 0), (9, 0), (9, 9)], [[(5, 1), (6, 1), (6, 2)], [(7, 5), (8, 5), (8, 6)]])]
    parts = np.concatenate([parts, np.array(extra, dtype=object)])
    coords, ring_offsets, polygon_offsets = _ring_arrays(parts)
    _, ref_coords, (ref_rings, ref_polygons) = shapely.to_ragged_array(parts)
    np.testing.assert_array_equal(coords, ref_coords)
    np.testing.assert_array_equal(ring_offsets, ref_rings)
    np.testing.assert_array_equal(polygon_offsets, ref_polygons)
