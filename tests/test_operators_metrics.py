"""PDEBench metrics against values computed by hand."""

import math

import numpy as np
import pytest
from conftest import assert_close

from sciml import metrics

# Two samples, one time, four cells; errors [1, 0, 0, 0] and [0, 0, 0, -2].
REFERENCE = np.array([[[1.0, 1.0, 1.0, 1.0]], [[0.0, 2.0, 0.0, 2.0]]])
PREDICTION = np.array([[[2.0, 1.0, 1.0, 1.0]], [[0.0, 2.0, 0.0, 0.0]]])


def test_pointwise_metrics_match_hand_values():
    # RMSE per sample: sqrt(1/4) = 0.5 and sqrt(4/4) = 1.
    assert_close(metrics.rmse(PREDICTION, REFERENCE), 0.75, rtol=1e-12, what="RMSE")
    # nRMSE per sample: 1/2 and 2/sqrt(8).
    assert_close(metrics.nrmse(PREDICTION, REFERENCE), (0.5 + 2 / math.sqrt(8)) / 2, rtol=1e-12, what="nRMSE")
    # Domain sums differ by +1 and -2, over 4 cells: sqrt(mean(0.25^2, 0.5^2)).
    assert_close(metrics.crmse(PREDICTION, REFERENCE), math.sqrt((0.0625 + 0.25) / 2), rtol=1e-12, what="cRMSE")
    # Boundary squared errors 1, 0 (sample 0) and 0, 4 (sample 1): sqrt(5/4).
    assert_close(metrics.brmse(PREDICTION, REFERENCE), math.sqrt(1.25), rtol=1e-12, what="bRMSE")
    assert metrics.max_error(PREDICTION, REFERENCE) == 2.0


def test_frmse_bands_of_a_single_sine_error():
    # error 2 sin(2 pi 5 x) on 32 cells: |rfft| at k = 5 is 2 * 32 / 2, scaled by L/N -> 1; mid band [4, 12)
    # holds 8 modes, so its mean is 1/8; low and high bands see no error.
    x = np.arange(32) / 32
    reference = np.ones((1, 1, 32))
    prediction = reference + 2 * np.sin(2 * np.pi * 5 * x)
    bands = metrics.frmse(prediction, reference)
    assert_close(bands["mid"], 1 / 8, rtol=1e-10, what="fRMSE mid")
    assert_close([bands["low"], bands["high"]], [0.0, 0.0], rtol=0, atol=1e-12, what="fRMSE low/high")


def test_two_dimensional_boundary_and_nrmse():
    reference = np.ones((1, 1, 3, 3))
    prediction = reference.copy()
    prediction[0, 0, 0, 0] += 3.0  # a corner: one of the 8 boundary cells
    assert_close(metrics.brmse(prediction, reference, spatial_ndim=2), math.sqrt(9 / 8), rtol=1e-12, what="bRMSE 2D")
    assert_close(metrics.nrmse(prediction, reference, spatial_ndim=2), 3 / 3, rtol=1e-12, what="nRMSE 2D")
    centre = reference.copy()
    centre[0, 0, 1, 1] += 3.0
    assert metrics.brmse(centre, reference, spatial_ndim=2) == 0.0


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.nrmse(np.zeros((2, 3, 4)), np.zeros((2, 3, 5)))
