import sys

import matplotlib.image as mpimg
import numpy as np
import pytest
from affine import Affine
from matplotlib.figure import Figure
from rasterio.crs import CRS
from shapely.geometry import Polygon, box

from cropseg.errors import InvalidInputError, OutputError
from cropseg.labels import label_contours, read_ground_truth
from cropseg.plot import plot_overlay, rgb_composite, save_figure
from cropseg.scene import Scene

UTM = "EPSG:32610"
TRANSFORM = Affine(3.0, 0, 600000.0, 0, -3.0, 4200000.0)


def make_scene(rows=40, cols=50, seed=0, valid=None):
    rng = np.random.default_rng(seed)
    refl = rng.random((4, rows, cols), dtype=np.float32) * 0.4
    valid = np.ones((rows, cols), bool) if valid is None else valid
    refl[:, ~valid] = np.nan
    return Scene(reflectance=refl, valid=valid, transform=TRANSFORM, crs=CRS.from_user_input(UTM),
                 band_names=("Blue", "Green", "Red", "NIR"), product="analytic")


def test_rgb_composite_matches_numpy_percentile_stretch():
    valid = np.ones((40, 50), bool)
    valid[:5] = False
    scene = make_scene(valid=valid)
    rgb = rgb_composite(scene, percentiles=(2, 98))
    assert rgb.shape == (40, 50, 3) and rgb.dtype == np.float32
    for channel, band in enumerate((2, 1, 0)):  # red, green, blue
        data = scene.reflectance[band][valid]
        lo, hi = np.percentile(data, [2, 98])
        expected = np.clip((scene.reflectance[band] - lo) / (hi - lo), 0, 1)
        np.testing.assert_allclose(rgb[..., channel][valid], expected[valid], rtol=1e-5, atol=1e-6)
    assert (rgb[~valid] == 0).all()
    assert rgb.min() == 0.0 and rgb.max() == 1.0


def test_rgb_composite_false_colour_and_indices():
    scene = make_scene()
    np.testing.assert_array_equal(rgb_composite(scene, bands=("nir", "red", "green")),
                                  rgb_composite(scene, bands=(3, 2, 1)))
    flat = Scene(reflectance=np.full((3, 4, 4), 0.2, np.float32), valid=np.ones((4, 4), bool),
                 transform=TRANSFORM, crs=CRS.from_user_input(UTM), band_names=("red", "green", "blue"),
                 product="analytic")
    assert (rgb_composite(flat) == 0).all()  # constant band: no division by zero


def test_rgb_composite_errors():
    scene = make_scene()
    with pytest.raises(InvalidInputError, match=r"band 'swir' is not in the scene's bands \['Blue'"):
        rgb_composite(scene, bands=("swir", "red", "green"))
    with pytest.raises(InvalidInputError, match="band index 7 is out of range for a 4-band scene"):
        rgb_composite(scene, bands=(7, 1, 0))
    with pytest.raises(InvalidInputError, match="bands must be three band names or indices"):
        rgb_composite(scene, bands=("red", "green"))
    with pytest.raises(InvalidInputError, match=r"must satisfy 0 <= low < high <= 100, got \(98, 2\)"):
        rgb_composite(scene, percentiles=(98, 2))
    with pytest.raises(InvalidInputError, match="percentiles must be two numbers"):
        rgb_composite(scene, percentiles="wide")
    with pytest.raises(InvalidInputError, match="scene must be a cropseg Scene, got ndarray"):
        rgb_composite(np.zeros((3, 4, 4)))


def field_geoms():
    outer = Polygon(
        [(600030, 4199970), (600120, 4199970), (600120, 4199910), (600030, 4199910)],
        [[(600060, 4199955), (600090, 4199955), (600090, 4199925), (600060, 4199925)]],
    )
    return [outer, box(600123, 4199940, 600141, 4199880)]


def test_plot_overlay_draws_contours_where_they_are(tmp_path):
    scene = Scene(reflectance=np.zeros((4, 40, 50), np.float32), valid=np.ones((40, 50), bool),
                  transform=TRANSFORM, crs=CRS.from_user_input(UTM),
                  band_names=("blue", "green", "red", "nir"), product="analytic")
    pair = label_contours(field_geoms(), like=scene, source_crs=UTM)
    out = plot_overlay(scene, pair, tmp_path / "overlay.png", scale=4, linewidth=0.5,
                       color="red", hole_color="blue")
    assert out == tmp_path / "overlay.png"
    img = mpimg.imread(out)[..., :3]
    assert img.shape[:2] == (160, 200)  # 4 picture pixels per scene pixel, no margins
    red = (img[..., 0] > 0.5) & (img[..., 1] < 0.3) & (img[..., 2] < 0.3)
    blue = (img[..., 2] > 0.5) & (img[..., 0] < 0.3)
    # exterior of the first field: scene pixel columns 10..40, rows 10..30 -> picture x 40..160, y 40..120
    ys, xs = np.nonzero(red)
    assert red.sum() > 100 and blue.sum() > 20
    assert xs.min() >= 38 and xs.max() <= 4 * 47 + 2 and ys.min() >= 38 and ys.max() <= 4 * 40
    bys, bxs = np.nonzero(blue)  # the hole: scene cols 20..30, rows 15..25
    assert 78 <= bxs.min() and bxs.max() <= 122 and 58 <= bys.min() and bys.max() <= 102
    # the image interior (black imagery) stays black away from lines
    assert (img[5:30, 5:30] == 0).all()
    assert not list(tmp_path.glob("*.part"))


def test_plot_overlay_from_ground_truth_equals_from_contours(tmp_path):
    scene = make_scene()
    gt = read_ground_truth(field_geoms(), crs=UTM)
    p1 = plot_overlay(scene, gt, tmp_path / "gt.png")
    p2 = plot_overlay(scene, label_contours(gt, like=scene), tmp_path / "pair.png")
    np.testing.assert_array_equal(mpimg.imread(p1), mpimg.imread(p2))
    titled = plot_overlay(scene, gt, tmp_path / "titled.png", title="ground truth vs imagery")
    assert mpimg.imread(titled).shape[0] > mpimg.imread(p1).shape[0]


def test_no_pyplot_state(tmp_path):
    plot_overlay(make_scene(), read_ground_truth(field_geoms(), crs=UTM), tmp_path / "x.png")
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


def test_plot_overlay_errors(tmp_path):
    scene = make_scene()
    pair = label_contours(field_geoms(), like=scene, source_crs=UTM)
    with pytest.raises(InvalidInputError, match=r"hierarchy has shape \(1, 2, 4\) for 3 contours"):
        plot_overlay(scene, (pair[0], pair[1][:, :2]), tmp_path / "x.png")
    with pytest.raises(InvalidInputError, match="linewidth must be a positive number, got 0"):
        plot_overlay(scene, pair, tmp_path / "x.png", linewidth=0)
    with pytest.raises(InvalidInputError, match="color / hole_color is not a matplotlib colour"):
        plot_overlay(scene, pair, tmp_path / "x.png", color="notacolour")
    with pytest.raises(OutputError, match="does not exist; create it first"):
        plot_overlay(scene, pair, tmp_path / "missing" / "x.png")
    assert not list(tmp_path.iterdir())


def test_save_figure_atomic_and_errors(tmp_path):
    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [0, 1])
    out = save_figure(fig, tmp_path / "f.svg")
    assert out.read_text().lstrip().startswith("<?xml")
    target = tmp_path / "keep.png"
    target.write_bytes(b"old")
    with pytest.raises(InvalidInputError, match=r"has suffix '.xyz'; use one of"):
        save_figure(fig, tmp_path / "f.xyz")
    with pytest.raises(InvalidInputError, match="fig must be a matplotlib.figure.Figure"):
        save_figure("figure", target)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.svg", "keep.png"]


def test_save_figure_interrupted_leaves_target_untouched(tmp_path, monkeypatch):
    fig = Figure(figsize=(1, 1))
    target = tmp_path / "keep.png"
    target.write_bytes(b"old")

    def failing_savefig(fname, **kwargs):
        with open(fname, "wb") as fh:
            fh.write(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", failing_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(fig, target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]
