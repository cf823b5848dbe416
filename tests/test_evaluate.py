import json

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from shapely.geometry import box
from sklearn.metrics import classification_report, cohen_kappa_score, jaccard_score

from cropseg import GridMismatchError, InvalidInputError
from cropseg.evaluate import AGREE, FALSE_CROP, MISSED_CROP, disagreement_map, evaluate, field_agreement
from cropseg.labels import read_ground_truth

maps = arrays(np.uint8, (12, 9), elements=st.sampled_from([0, 1, 255]))


@settings(max_examples=60, deadline=None)
@given(maps, maps)
def test_report_equals_sklearn(truth, predicted):
    keep = (truth != 255) & (predicted != 255)
    if not keep.any():
        with pytest.raises(InvalidInputError, match="nothing to evaluate"):
            evaluate(truth, predicted)
        return
    report = evaluate(truth, predicted)
    t, p = truth[keep], predicted[keep]
    assert report.text == classification_report(
        t, p, labels=[1, 0], target_names=["crop", "non-crop"], digits=2, zero_division=0
    )
    assert report.n_pixels == keep.sum()
    assert report.accuracy == pytest.approx(np.mean(t == p))
    assert report.confusion.sum() == keep.sum()
    assert report.confusion[0, 0] == np.sum((t == 1) & (p == 1))
    for value, name in [(1, "crop"), (0, "non-crop")]:
        if ((t == value) | (p == value)).any():
            assert report.iou[name] == pytest.approx(jaccard_score(t, p, pos_label=value, average="binary"))
    if len(np.unique(np.r_[t, p])) > 1:
        assert report.kappa == pytest.approx(cohen_kappa_score(t, p))


def test_report_outputs(tmp_path):
    truth = np.array([[1, 1, 0, 0, 255]], np.uint8)
    pred = np.array([[1, 0, 0, 0, 1]], np.uint8)
    report = evaluate(truth, pred, digits=4)
    assert "0.7500" in report.text and str(report) == report.text
    data = json.loads(report.to_json(tmp_path / "r.json").read_text())
    assert data["confusion_matrix"]["values"] == [[1, 1], [0, 2]]
    assert data["classification_report"]["crop"]["precision"] == 1.0
    assert report.plot_confusion(tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_disagreement_map():
    truth = np.array([[1, 0, 1, 0, 255, 1]])
    pred = np.array([[1, 1, 0, 0, 1, 255]])
    assert disagreement_map(truth, pred).tolist() == [[AGREE, FALSE_CROP, MISSED_CROP, AGREE, 255, 255]]


def test_field_agreement():
    transform = Affine(1, 0, 0, 0, -1, 10)
    pred = np.zeros((10, 10), np.uint8)
    pred[0:5, 0:5] = 1  # field A fully predicted crop
    pred[5:10, 5:10] = 0  # field B predicted non-crop
    pred[9, 9] = 255
    gt = read_ground_truth([box(0, 5, 5, 10), box(5, 0, 10, 5), box(20, 20, 21, 21)], crs="EPSG:32610")
    out = field_agreement(gt, pred, transform=transform, crs="EPSG:32610")
    assert out.n_pixels.tolist() == [25, 24, 0]
    assert out.crop_share.iloc[0] == 1.0 and out.crop_share.iloc[1] == 0.0 and np.isnan(out.crop_share.iloc[2])
    assert out.agrees.tolist() == [True, False, False]


def test_bad_input():
    with pytest.raises(GridMismatchError, match="shape"):
        evaluate(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))
    with pytest.raises(InvalidInputError, match="integer class codes"):
        evaluate(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.uint8))
    with pytest.raises(InvalidInputError, match=r"class codes \[7\]"):
        evaluate(np.full((2, 2), 7, np.uint8), np.zeros((2, 2), np.uint8))
    with pytest.raises(GridMismatchError, match="shape"):
        disagreement_map(np.zeros((2, 2)), np.zeros((3, 2)))
    with pytest.raises(InvalidInputError, match="2-D"):
        field_agreement([box(0, 0, 1, 1)], np.zeros(4), transform=Affine.identity(), crs="EPSG:32610")
