import os

import numpy as np
import pytest
import rasterio
import shapely
from click.testing import CliRunner

from cropseg import ModelError, OutputError, SceneReadError, read_scene
from cropseg.classify import CropKNN, predict_scene, save_model
from cropseg.cli import main
from cropseg.denoise import majority_filter, median_blur
from cropseg.errors import InvalidInputError
from cropseg.pipeline import classify_scene, segment_scene, train_model
from cropseg.vectorize import vectorize


@pytest.fixture(scope="module")
def model(small_scene):
    result = train_model(
        small_scene.scene, small_scene.ground_truth, max_samples=20_000, block_size=50, cv=3,
        param_grid={"n_neighbors": [1, 5, 9], "weights": ["uniform"]},
    )
    return result.best_estimator


@pytest.fixture(scope="module")
def model_file(model, tmp_path_factory):
    return save_model(model, tmp_path_factory.mktemp("model") / "model.npz")


@pytest.mark.parametrize(("filter_", "ksize"), [("median", 5), ("majority", 7), (None, None)])
def test_tiles_equal_whole_scene(small_scene, model, filter_, ksize):
    scene = read_scene(small_scene.scene)
    whole = predict_scene(model, scene)
    if filter_ == "median":
        whole = median_blur(whole, ksize, nodata=255)
    elif filter_ == "majority":
        whole = majority_filter(whole, ksize)
    tiled, transform, crs = classify_scene(small_scene.scene, model, filter=filter_, ksize=ksize, tile_size=64)
    np.testing.assert_array_equal(tiled, whole)
    assert transform == scene.transform and crs == scene.crs


def test_segment_scene_writes_class_map_and_fields(small_scene, model, tmp_path):
    out = tmp_path / "classes.tif"
    fields = segment_scene(small_scene.scene, model, out=out, tile_size=100, min_area=900.0)
    with rasterio.open(out) as ds:
        classes = ds.read(1)
        assert ds.nodata == 255 and ds.profile["tiled"] and ds.profile["compress"] == "deflate"
        transform, crs = ds.transform, ds.crs
    expected = vectorize(classes, transform, crs, min_area=900.0)
    assert len(fields) == len(expected) > 0
    assert all(shapely.equals(a, b) for a, b in zip(fields.geometry, expected.geometry, strict=True))
    assert (fields.area_m2 >= 900).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classes.tif"]


def test_dask_cluster_gives_identical_output(small_scene, model):
    distributed = pytest.importorskip("dask.distributed")
    local, _, _ = classify_scene(small_scene.scene, model, tile_size=128)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            remote, _, _ = classify_scene(small_scene.scene, model, tile_size=128, client=client)
    np.testing.assert_array_equal(remote, local)


class Exploding(CropKNN):
    """A model that fails after its first chunk, to interrupt a run."""

    calls = 0

    def predict(self, X):
        Exploding.calls += 1
        if Exploding.calls > 1:
            raise RuntimeError("interrupted")
        return super().predict(X)


def test_interrupted_run_leaves_no_output(small_scene, model, tmp_path):
    broken = Exploding(**model.get_params())
    broken.fit(model._fit_X, model.classes_[model._fit_y], band_names=model.band_names_, product=model.product_)
    out = tmp_path / "classes.tif"
    with pytest.raises(RuntimeError, match="interrupted"):
        segment_scene(small_scene.scene, broken, out=out, tile_size=100)
    assert list(tmp_path.iterdir()) == []


def test_bad_input(small_scene, model, tmp_path):
    with pytest.raises(SceneReadError, match="does not exist"):
        segment_scene(tmp_path / "missing.tif", model)
    X = model._fit_X[:, :3]
    with pytest.raises(ModelError, match="expects 3 bands"):
        segment_scene(small_scene.scene, CropKNN().fit(X, model.classes_[model._fit_y]))
    with pytest.raises(ModelError, match="trained on bands"):
        segment_scene(small_scene.scene, CropKNN().fit(model._fit_X, model.classes_[model._fit_y],
                                                       band_names=("nir", "red", "green", "blue")))
    with pytest.raises(InvalidInputError, match="'gaussian' is not a valid option"):
        segment_scene(small_scene.scene, model, filter="gaussian")
    with pytest.raises(InvalidInputError, match="ksize must be an odd"):
        segment_scene(small_scene.scene, model, ksize=4)
    with pytest.raises(InvalidInputError, match="tile_size"):
        segment_scene(small_scene.scene, model, tile_size=8)
    with pytest.raises(OutputError, match="does not exist"):
        segment_scene(small_scene.scene, model, out=tmp_path / "no" / "classes.tif")


def test_cli_train_predict_vectorize_evaluate(small_scene, tmp_path):
    runner = CliRunner()
    model_path = tmp_path / "m.npz"
    args = ["train", str(small_scene.scene), str(small_scene.ground_truth), "--out", str(model_path)]
    result = runner.invoke(main, [*args, "--block-size", "50", "--cv", "3", "--plot", str(tmp_path / "k.png")])
    assert result.exit_code == 0, result.output
    assert "best {'n_neighbors'" in result.output and model_path.is_file() and (tmp_path / "k.png").is_file()
    fields, classes = tmp_path / "f.geojson", tmp_path / "c.tif"
    result = runner.invoke(main, ["predict", str(small_scene.scene), "--model", str(model_path), "--out", str(fields),
                                  "--classes", str(classes), "--tile-size", "128", "--min-area", "0"])
    assert result.exit_code == 0, result.output
    assert fields.is_file() and classes.is_file()
    again = tmp_path / "f2.geojson"
    result = runner.invoke(main, ["vectorize", str(classes), "--out", str(again)])
    assert result.exit_code == 0, result.output
    assert again.read_text() == fields.read_text()
    result = runner.invoke(main, ["evaluate", str(small_scene.scene), str(small_scene.ground_truth), "--model",
                                  str(model_path), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "weighted avg" in result.output and (tmp_path / "r.json").is_file()


def test_cli_errors(small_scene, model_file, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["predict", str(tmp_path / "missing.tif"), "--model", str(model_file), "--out",
                                  str(tmp_path / "f.geojson")])
    assert result.exit_code == 1
    assert "does not exist" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(main, ["predict", str(small_scene.scene), "--model", str(model_file), "--out",
                                  str(tmp_path / "nowhere" / "f.geojson")])
    assert result.exit_code == 1 and "does not exist; create it first" in result.output
    result = runner.invoke(main, ["predict", str(small_scene.scene)])
    assert result.exit_code == 2 and "Missing option '--model'" in result.output
    result = runner.invoke(main, ["--verbose", "predict", str(tmp_path / "missing.tif"), "--model", str(model_file),
                                  "--out", str(tmp_path / "f.geojson")])
    assert result.exit_code == 1


def test_cli_demo_unwritable(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder should go")
    result = CliRunner().invoke(main, ["demo", "--out", str(blocker / "demo")])
    assert result.exit_code == 1 and "cannot create output folder" in result.output
    if os.geteuid() != 0:  # root writes into read-only folders
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        result = CliRunner().invoke(main, ["demo", "--out", str(locked)])
        assert result.exit_code == 1 and "not writable" in result.output


@pytest.mark.slow
def test_cli_demo(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "precision    recall  f1-score   support" in result.output
    names = {p.name for p in out.iterdir()}
    assert names == {"fields.geojson", "classes.tif", "report.txt", "report.json", "ground_truth_overlay.png",
                     "prediction.png", "disagreement.png", "confusion.png", "tuning.png", "model.npz"}
    assert (out / "report.txt").read_text() in result.output
