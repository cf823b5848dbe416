import json
import warnings
import zipfile

import numba
import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from rasterio.crs import CRS
from sklearn import metrics
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from cropseg import InvalidInputError, ModelError, ModelWarning, Scene
from cropseg._core import knn
from cropseg.classify import (
    SCORINGS,
    CropKNN,
    _confusion,
    _prefix_votes,
    _votes,
    load_model,
    predict_scene,
    save_model,
    tune_knn,
)


@parametrize_with_checks([CropKNN(), CropKNN(n_neighbors=3, weights="distance", max_train_samples=None)])
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


def blobs(n=3000, seed=0, noise=0.06):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.uint8)
    centres = np.array([[0.08, 0.1, 0.14, 0.25], [0.05, 0.08, 0.05, 0.4]])
    X = (centres[y] + rng.normal(0, noise, (n, 4))).astype(np.float32)
    return X, y


@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("k", [1, 2, 4, 15, 31])
def test_predictions_equal_sklearn(weights, k):
    X, y = blobs()
    Q, _ = blobs(2000, seed=1)
    ours = CropKNN(k, weights=weights, max_train_samples=None).fit(X, y)
    ref = KNeighborsClassifier(k, weights=weights, algorithm="brute").fit(X.astype(np.float64), y)
    # Distance ties make the choice of neighbour arbitrary; continuous features have none here.
    np.testing.assert_array_equal(ours.predict(Q), ref.predict(Q.astype(np.float64)))
    np.testing.assert_allclose(ours.predict_proba(Q), ref.predict_proba(Q.astype(np.float64)))


@pytest.mark.parametrize("k", [1, 2, 4, 15, 31])
def test_certified_predictions_equal_sklearn(k):
    # More queries than training points: the certificates are computed and settle many queries.
    X, y = blobs(1500)
    Q, _ = blobs(6000, seed=7)
    ours = CropKNN(k, max_train_samples=None).fit(X, y)
    ref = KNeighborsClassifier(k, algorithm="brute").fit(X.astype(np.float64), y)
    np.testing.assert_array_equal(ours.predict(Q), ref.predict(Q.astype(np.float64)))
    assert k in ours._certificates
    radius2, _ = ours._certificates[k][1]
    assert (radius2 > 0).mean() > 0.3  # most training points settle a neighbourhood


@pytest.mark.parametrize("k", [3, 8, 15])
def test_certificates_decide_as_the_search_on_ties(k):
    # Features on a coarse grid: distances tie everywhere; certified and searched votes must agree.
    rng = np.random.default_rng(k)
    X = rng.integers(0, 6, (800, 3)).astype(np.float64) / 10
    y = (X.sum(axis=1) + rng.normal(0, 0.15, 800) > 0.75).astype(int)
    Q = np.ascontiguousarray(np.r_[rng.integers(0, 6, (3000, 3)) / 10, rng.random((3000, 3)) * 0.5])
    model = CropKNN(k, max_train_samples=None).fit(X, y)
    cert0, cert1 = model._certificates_for(k)
    searched, certified = np.empty(len(Q), np.int64), np.empty(len(Q), np.int64)
    knn.classify_two(Q, *model._class_trees, k, knn.NO_CERTIFICATES, knn.NO_CERTIFICATES, searched)
    knn.classify_two(Q, *model._class_trees, k, cert0, cert1, certified)
    np.testing.assert_array_equal(certified, searched)
    assert (cert1[0] > 0).any() and (cert0[0] > 0).any()


@pytest.mark.parametrize("n_jobs", [None, 1, -1, -2])
@pytest.mark.parametrize("k", [1, 7, 31])
def test_kneighbors_equal_sklearn(k, n_jobs):
    X, y = blobs(2500)
    Q, _ = blobs(700, seed=4)
    ours = CropKNN(k, max_train_samples=None, n_jobs=n_jobs).fit(X, y)
    ref = KNeighborsClassifier(k, algorithm="brute").fit(X.astype(np.float64), y)
    dist, idx = ours.kneighbors(Q)
    ref_dist, ref_idx = ref.kneighbors(Q.astype(np.float64))
    assert dist.shape == idx.shape == (700, k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-12)
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS  # restored after the call


@pytest.mark.parametrize("n_rare", [3, 40])
def test_three_classes_and_a_rare_class_equal_sklearn(n_rare):
    # Three classes take the general vote; a class rarer than half of k cannot use the per-class trees.
    X, y = blobs()
    rng = np.random.default_rng(5)
    rare = rng.choice(len(y), n_rare, replace=False)
    for labels in (np.where(np.arange(len(y)) % 7 == 0, 2, y), np.where(np.isin(np.arange(len(y)), rare), 1, 0)):
        Q, _ = blobs(1000, seed=2)
        ours = CropKNN(15, max_train_samples=None).fit(X, labels)
        ref = KNeighborsClassifier(15, algorithm="brute").fit(X.astype(np.float64), labels)
        np.testing.assert_array_equal(ours.predict(Q), ref.predict(Q.astype(np.float64)))


def test_ties_on_duplicate_points_follow_votes():
    X = np.array([[0.0], [0.0], [1.0], [1.0]])
    y = np.array([0, 1, 0, 1])
    # Both classes tie; like scikit-learn, the smaller class wins.
    assert CropKNN(2).fit(X, y).predict([[0.0]]).tolist() == KNeighborsClassifier(2).fit(X, y).predict([[0.0]]).tolist()


def test_stratified_subsampling_keeps_class_shares():
    X, y = blobs(5000)
    model = CropKNN(max_train_samples=1000, random_state=0).fit(X, y)
    used = model.training_summary_["class_counts_used"]
    assert sum(used.values()) == 1000
    assert used["1"] == round(1000 * y.mean()) or abs(used["1"] - 1000 * y.mean()) <= 1
    again = CropKNN(max_train_samples=1000, random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.predict(X[:300]), again.predict(X[:300]))


def test_works_in_pipeline_and_cross_val():
    X, y = blobs(600)
    scores = cross_val_score(make_pipeline(StandardScaler(), CropKNN(5)), X, y, cv=3)
    assert scores.mean() > 0.8


@pytest.mark.parametrize("groups", [False, True])
def test_tune_knn_equals_gridsearch(groups):
    X, y = blobs(900, noise=0.09)
    grid = {"n_neighbors": [1, 3, 5, 9, 15], "weights": ["uniform", "distance"]}
    g = np.repeat(np.arange(9), 100) if groups else None
    result = tune_knn(X, y, groups=g, param_grid=grid, cv=3, max_train_samples=None, random_state=0)
    if groups:
        cv = list(GroupKFold(3).split(X, y, g))
    else:
        from sklearn.model_selection import StratifiedKFold

        cv = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    search = GridSearchCV(KNeighborsClassifier(algorithm="brute"), grid, cv=cv, scoring="f1_weighted").fit(
        X.astype(np.float64), y
    )
    table = result.results.set_index(["n_neighbors", "weights"])
    for params, mean in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True):
        assert table.loc[(params["n_neighbors"], params["weights"]), "mean_score"] == pytest.approx(mean)
    assert result.best_score == pytest.approx(search.best_score_)
    assert result.best_estimator.n_neighbors == result.best_params["n_neighbors"]
    assert result.cv_kind == ("spatially grouped" if groups else "stratified")


SKLEARN_SCORES = {
    "f1_weighted": lambda t, p: metrics.f1_score(t, p, average="weighted"),
    "f1_macro": lambda t, p: metrics.f1_score(t, p, average="macro"),
    "accuracy": metrics.accuracy_score,
    "balanced_accuracy": metrics.balanced_accuracy_score,
    "cohen_kappa": metrics.cohen_kappa_score,
}


@settings(max_examples=60, deadline=None)
@given(pairs=hnp.arrays(np.int64, st.tuples(st.integers(1, 40), st.just(2)), elements=st.integers(0, 3)))
def test_scorings_equal_sklearn(pairs):
    """Scores from the confusion matrix equal scikit-learn's, also with classes absent from one side."""
    truth, pred = pairs[:, 0], pairs[:, 1]
    cm = _confusion(truth, pred, 4)
    assert set(SCORINGS) == set(SKLEARN_SCORES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on ill-defined scores (one class only)
        for name, score in SCORINGS.items():
            expected = SKLEARN_SCORES[name](truth, pred)
            assert score(cm) == pytest.approx(expected, rel=1e-12, nan_ok=True), name


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_prefix_votes_equal_the_vote_of_each_k(weights):
    rng = np.random.default_rng(3)
    dist = np.sort(rng.choice([0.0, 0.5, 1.0, 2.0, 4.0], (400, 9)), axis=1)  # exact matches and ties
    labels = rng.integers(0, 3, dist.shape)
    winners = _prefix_votes(labels, dist, 3, weights)
    for k in range(1, 10):
        np.testing.assert_array_equal(winners[:, k - 1], _votes(labels[:, :k], dist[:, :k], 3, weights).argmax(axis=1))


def test_tuning_plot(tmp_path):
    X, y = blobs(300)
    result = tune_knn(X, y, param_grid={"n_neighbors": [1, 3, 5]}, cv=3)
    assert result.plot(tmp_path / "k.png").read_bytes()[:4] == b"\x89PNG"
    assert len(result.results) == 6 and sorted(result.results["rank"]) == list(range(1, 7))


def make_scene(X_grid, valid):
    return Scene(
        reflectance=X_grid,
        valid=valid,
        transform=Affine(3, 0, 6e5, 0, -3, 4.2e6),
        crs=CRS.from_epsg(32610),
        band_names=("blue", "green", "red", "nir"),
        product="analytic",
    )


def test_predict_scene_matches_predict_and_marks_nodata():
    X, y = blobs()
    model = CropKNN(5).fit(X, y, band_names=("blue", "green", "red", "nir"), product="analytic")
    Q, _ = blobs(60 * 70, seed=2)
    grid = np.ascontiguousarray(Q.T.reshape(4, 60, 70))
    valid = np.random.default_rng(0).random((60, 70)) > 0.1
    grid[:, ~valid] = np.nan
    out = predict_scene(model, make_scene(grid, valid), chunk_size=777)
    assert out.dtype == np.uint8
    assert (out[~valid] == 255).all()
    np.testing.assert_array_equal(out[valid], model.predict(grid[:, valid].T))


def test_predict_scene_dedupes_repeated_pixels():
    X, y = blobs()
    model = CropKNN(5).fit(X, y)
    grid = np.repeat(X[:10].T[:, :, None], 50, axis=2).reshape(4, 10, 50).copy()
    out = predict_scene(model, make_scene(grid, np.ones((10, 50), bool)))
    np.testing.assert_array_equal(out, np.repeat(model.predict(X[:10])[:, None], 50, axis=1))


def test_predict_scene_refuses_mismatches():
    X, y = blobs()
    grid = np.zeros((4, 3, 3), np.float32)
    scene = make_scene(grid, np.ones((3, 3), bool))
    with pytest.raises(ModelError, match="trained on 3 bands"):
        predict_scene(CropKNN().fit(X[:, :3], y), scene)
    with pytest.raises(ModelError, match="trained on bands"):
        predict_scene(CropKNN().fit(X, y, band_names=("nir", "red", "green", "blue")), scene)
    with pytest.raises(ModelError, match="surface reflectance differ"):
        predict_scene(CropKNN().fit(X, y, product="analytic_sr"), scene)
    with pytest.raises(InvalidInputError, match="must be a cropseg Scene"):
        predict_scene(CropKNN().fit(X, y), grid)


def test_save_and_load_round_trip(tmp_path):
    X, y = blobs()
    model = CropKNN(7, weights="distance", max_train_samples=2000, random_state=1).fit(
        X, y, band_names=("blue", "green", "red", "nir"), product="analytic"
    )
    path = save_model(model, tmp_path / "model.npz")
    loaded = load_model(path)
    assert loaded.get_params() | {"random_state": None} == model.get_params() | {"random_state": None}
    assert loaded.band_names_ == model.band_names_ and loaded.product_ == "analytic"
    assert loaded.training_summary_ == model.training_summary_
    Q, _ = blobs(500, seed=9)
    np.testing.assert_array_equal(loaded.predict(Q), model.predict(Q))
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_load_refuses_foreign_files(tmp_path):
    text = tmp_path / "x.npz"
    text.write_text("not a model")
    with pytest.raises(ModelError, match="not a cropseg model"):
        load_model(text)
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.array(json.dumps({"format": "something-else"})), X=np.zeros((2, 2)), y=np.zeros(2))
    with pytest.raises(ModelError, match="not a cropseg model"):
        load_model(other)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array([{"format": "cropseg-knn-model"}], dtype=object), X=np.zeros(2), y=np.zeros(2))
    with pytest.raises(ModelError, match="not a cropseg model"):
        load_model(pickled)  # object arrays would need pickle: refused, nothing executed
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "missing.npz")


def test_version_mismatch_warns(tmp_path):
    X, y = blobs(200)
    path = save_model(CropKNN(3).fit(X, y), tmp_path / "m.npz")
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        arrays = {k: data[k] for k in ("X", "y")}
    meta["versions"]["scikit-learn"] = "0.1.0"
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    with pytest.warns(ModelWarning, match="saved with scikit-learn 0.1.0"):
        load_model(path)
    meta["format_version"] = 99
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    with warnings.catch_warnings(), pytest.raises(ModelError, match="newer cropseg"):
        warnings.simplefilter("ignore")
        load_model(path)
    assert zipfile.is_zipfile(path)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda X, y: CropKNN().fit(X, y[:-1]), "inconsistent numbers of samples"),
        (lambda X, y: CropKNN().fit(X, np.ones_like(y)), "only one class"),
        (lambda X, y: CropKNN().fit(np.where(X > 0.1, np.nan, X), y), "NaN"),
        (lambda X, y: CropKNN(n_neighbors=0).fit(X, y), "n_neighbors must be"),
        (lambda X, y: CropKNN(weights="gaussian").fit(X, y), "'gaussian' is not a valid option"),
        (lambda X, y: tune_knn(X, y[:-1]), "X must be"),
        (lambda X, y: tune_knn(np.where(X > 0.1, np.nan, X), y), "NaN"),
        (lambda X, y: tune_knn(X, np.zeros_like(y)), "single class"),
        (lambda X, y: tune_knn(X, y, scoring="auc"), "'auc' is not a valid option"),
        (lambda X, y: tune_knn(X, y, param_grid={"p": [1]}), "not tunable"),
        (lambda X, y: tune_knn(X, y, cv=1), "cv must be"),
        (lambda X, y: tune_knn(X, y, groups=np.zeros(len(y))), "fewer than cv"),
        (lambda X, y: CropKNN(n_jobs=0).fit(X, y), "n_jobs must be None or a nonzero int"),
        (lambda X, y: tune_knn(X, y, n_jobs=1.5), "n_jobs must be None or a nonzero int"),
    ],
)
def test_bad_input(call, match):
    X, y = blobs(200)
    with pytest.raises(ValueError, match=match):
        call(X, y)
