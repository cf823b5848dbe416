"""The examples run as users would run them (scripts in a subprocess, the notebook with nbclient)."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script, *args, cwd):
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_search_and_order_dry_run(tmp_path):
    aoi = Path(__file__).resolve().parents[1] / "src/cropseg/datasets/data/sacramento/aoi-train.geojson"
    out = run("search_and_order.py", str(aoi), "2016-08-01", "2016-09-30", "--dry-run", cwd=tmp_path)
    assert "dry run: nothing sent" in out and "Polygon" in out


@pytest.mark.slow
def test_train_and_evaluate(tmp_path):
    out = run("train_and_evaluate.py", "--out", "r", "--max-samples", "30000", cwd=tmp_path)
    assert "weighted avg" in out and (tmp_path / "r" / "model.npz").is_file()


@pytest.mark.slow
def test_segment_full_scene(tmp_path):
    out = run("segment_full_scene.py", "--rows", "700", "--cols", "900", "--tile-size", "256", cwd=tmp_path)
    assert "fields in" in out and (tmp_path / "full-scene" / "fields.geojson").is_file()


@pytest.mark.slow
def test_dask_cluster(tmp_path):
    out = run("dask_cluster.py", "--rows", "600", "--cols", "700", cwd=tmp_path)
    assert "identical to the local run: True" in out


@pytest.mark.slow
def test_notebook_runs(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(EXAMPLES / "crop_segmentation.ipynb", as_version=4)
    resources = {"metadata": {"path": str(tmp_path)}}
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources=resources).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "weighted avg" in outputs
    assert (tmp_path / "fields.geojson").is_file() and (tmp_path / "overlay.png").is_file()
