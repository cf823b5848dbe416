import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    """Generated sample scenes go to one cache per test session (the user's cache is left alone)."""
    if "CROPSEG_CACHE_DIR" not in os.environ:
        os.environ["CROPSEG_CACHE_DIR"] = str(tmp_path_factory.mktemp("cropseg-cache"))
    yield


@pytest.fixture(scope="session")
def small_scene(tmp_path_factory):
    """A 300 x 420 synthetic PSScene with synthetic fields, its XML, UDM2 and field polygons."""
    from cropseg.datasets import make_synthetic_scene

    return make_synthetic_scene(tmp_path_factory.mktemp("small"), size=(300, 420), seed=3, cloud_cover=0.03)


@pytest.fixture(scope="session")
def sacramento_train():
    from cropseg.datasets import sacramento

    return sacramento("train")
