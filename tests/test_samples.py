import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.crs import CRS
from sklearn.model_selection import GroupKFold

from cropseg.errors import GridMismatchError, InvalidInputError
from cropseg.samples import from_predictions, spatial_blocks, to_samples
from cropseg.scene import Scene
from cropseg.types import CROP, NODATA, NON_CROP


def make_scene(rows=6, cols=7, bands=4, seed=0, invalid_frac=0.2):
    rng = np.random.default_rng(seed)
    refl = rng.random((bands, rows, cols), dtype=np.float32)
    valid = rng.random((rows, cols)) > invalid_frac
    refl[:, ~valid] = np.nan
    return Scene(
        reflectance=refl,
        valid=valid,
        transform=Affine(3.0, 0, 600000.0, 0, -3.0, 4200000.0),
        crs=CRS.from_epsg(32610),
        band_names=tuple(f"b{i}" for i in range(bands)),
        product="analytic",
    )


def random_labels(shape, seed=1, p_crop=0.3, p_nodata=0.2):
    rng = np.random.default_rng(seed)
    u = rng.random(shape)
    labels = np.where(u < p_crop, CROP, NON_CROP).astype(np.uint8)
    labels[u > 1 - p_nodata] = NODATA
    return labels


def test_to_samples_all_pixels_matches_masking():
    scene = make_scene()
    labels = random_labels(scene.shape)
    X, y, (rows, cols) = to_samples(scene, labels, return_index=True)
    mask = scene.valid & (labels != NODATA)
    assert X.dtype == np.float32 and X.flags.c_contiguous
    assert y.dtype == np.uint8
    assert X.shape == (mask.sum(), scene.count)
    np.testing.assert_array_equal(X, scene.reflectance[:, mask].T)
    np.testing.assert_array_equal(y, labels[mask])
    np.testing.assert_array_equal(np.ravel_multi_index((rows, cols), scene.shape), np.flatnonzero(mask))
    assert np.isfinite(X).all()


def test_to_samples_drops_nan_even_if_valid_says_true():
    scene = make_scene(invalid_frac=0.0)
    scene.reflectance[2, 1, 1] = np.nan
    labels = np.ones(scene.shape, np.uint8)
    X, y = to_samples(scene, labels)
    assert X.shape[0] == scene.shape[0] * scene.shape[1] - 1
    assert np.isfinite(X).all()


@settings(max_examples=40, deadline=None)
@given(
    n_crop=st.integers(1, 200),
    n_non=st.integers(1, 200),
    frac=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**31 - 1),
)
def test_stratified_subsample_keeps_proportions(n_crop, n_non, frac, seed):
    n = n_crop + n_non
    labels = np.array([CROP] * n_crop + [NON_CROP] * n_non, np.uint8)
    np.random.default_rng(seed).shuffle(labels)
    labels = labels.reshape(1, n)
    scene = make_scene(rows=1, cols=n, bands=2, invalid_frac=0.0, seed=seed)
    k = max(1, int(frac * n))
    X, y, (rows, cols) = to_samples(scene, labels, max_samples=k, random_state=seed, return_index=True)
    assert y.size == k
    # each class gets floor or ceil of its exact share
    for cls, count in ((CROP, n_crop), (NON_CROP, n_non)):
        share = k * count / n
        assert np.floor(share) <= np.count_nonzero(y == cls) <= np.ceil(share)
    # samples are distinct pixels, in raster order, and X/y match their pixels
    flat = np.ravel_multi_index((rows, cols), scene.shape)
    assert np.all(np.diff(flat) > 0)
    np.testing.assert_array_equal(y, labels[rows, cols])
    np.testing.assert_array_equal(X, scene.reflectance[:, rows, cols].T)


def test_subsample_reproducible_and_unstratified():
    scene = make_scene(rows=20, cols=20)
    labels = random_labels(scene.shape)
    a = to_samples(scene, labels, max_samples=50, random_state=3, return_index=True)
    b = to_samples(scene, labels, max_samples=50, random_state=3, return_index=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[2][0], b[2][0])
    X, y = to_samples(scene, labels, max_samples=50, stratify=False, random_state=3)
    assert X.shape == (50, scene.count)
    # max_samples above the available count keeps everything
    X_all, _ = to_samples(scene, labels, max_samples=10**6)
    assert X_all.shape[0] == np.count_nonzero(scene.valid & (labels != NODATA))


def test_to_samples_errors():
    scene = make_scene()
    labels = random_labels(scene.shape)
    with pytest.raises(InvalidInputError, match="scene must be a cropseg.scene.Scene"):
        to_samples(np.zeros((4, 6, 7)), labels)
    with pytest.raises(GridMismatchError, match=r"labels has shape \(6, 6\) but the scene is \(6, 7\)"):
        to_samples(scene, labels[:, :6])
    with pytest.raises(InvalidInputError, match="labels must be 2-D"):
        to_samples(scene, labels[None])
    with pytest.raises(InvalidInputError, match="integer class codes"):
        to_samples(scene, labels.astype(np.float32))
    with pytest.raises(InvalidInputError, match="outside 0..255"):
        to_samples(scene, labels.astype(np.int16) - 1)
    with pytest.raises(InvalidInputError, match="max_samples must be a positive int or None, got 0"):
        to_samples(scene, labels, max_samples=0)
    with pytest.raises(InvalidInputError, match="max_samples must be a positive int or None, got 2.5"):
        to_samples(scene, labels, max_samples=2.5)
    with pytest.raises(InvalidInputError, match="no pixel is both valid in the scene and labelled"):
        to_samples(scene, np.full(scene.shape, NODATA, np.uint8))


def test_from_predictions_roundtrip():
    scene = make_scene()
    labels = random_labels(scene.shape, p_nodata=0.0)
    X, y = to_samples(scene, labels)
    back = from_predictions(y, scene.valid)
    expected = np.where(scene.valid, labels, NODATA)
    np.testing.assert_array_equal(back, expected)
    assert back.dtype == np.uint8


def test_from_predictions_errors():
    mask = np.array([[True, False], [True, True]])
    with pytest.raises(InvalidInputError, match="y has 2 predictions but valid_mask has 3 True pixels"):
        from_predictions(np.array([1, 0]), mask)
    with pytest.raises(InvalidInputError, match="valid_mask must be a bool array"):
        from_predictions(np.array([1, 0, 1]), mask.astype(np.uint8))
    with pytest.raises(InvalidInputError, match="valid_mask must be 2-D"):
        from_predictions(np.array([1, 0, 1]), mask.ravel())
    with pytest.raises(InvalidInputError, match="y must be 1-D"):
        from_predictions(np.array([[1, 0, 1]]), mask)
    with pytest.raises(InvalidInputError, match="y must hold integer class codes"):
        from_predictions(np.array([1.0, 0.0, 1.0]), mask)
    with pytest.raises(InvalidInputError, match="y holds values outside 0..255"):
        from_predictions(np.array([1, 0, 300]), mask)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 40),
    br=st.integers(1, 50),
    bc=st.integers(1, 50),
)
def test_spatial_blocks_against_naive(rows, cols, br, bc):
    blocks = spatial_blocks((rows, cols), (br, bc))
    assert blocks.dtype == np.int32 and blocks.shape == (rows, cols)
    n_block_cols = -(-cols // bc)
    for r in range(rows):
        for c in range(cols):
            assert blocks[r, c] == (r // br) * n_block_cols + c // bc
    # ids are 0..n_blocks-1, every block non-empty
    assert np.array_equal(np.unique(blocks), np.arange(-(-rows // br) * n_block_cols))


def test_spatial_blocks_square_and_groupkfold():
    np.testing.assert_array_equal(spatial_blocks((5, 5), 2), spatial_blocks((5, 5), (2, 2)))
    scene = make_scene(rows=12, cols=12)
    labels = random_labels(scene.shape)
    X, y, (rows, cols) = to_samples(scene, labels, return_index=True)
    groups = spatial_blocks(scene.shape, 4)[rows, cols]
    for train, test in GroupKFold(n_splits=3).split(X, y, groups):
        assert not set(groups[train]) & set(groups[test])


def test_spatial_blocks_errors():
    with pytest.raises(InvalidInputError, match="block_size must be a positive int or"):
        spatial_blocks((4, 4), 0)
    with pytest.raises(InvalidInputError, match="block_size must be a positive int or"):
        spatial_blocks((4, 4), (2, -1))
    with pytest.raises(InvalidInputError, match="block_size must be a positive int or"):
        spatial_blocks((4, 4), "big")
    with pytest.raises(InvalidInputError, match=r"shape must be positive \(rows, cols\)"):
        spatial_blocks((0, 4), 2)
