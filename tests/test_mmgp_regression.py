"""gpytorch GroupedExactGP against scikit-learn's GaussianProcessRegressor (an independent implementation)."""

import numpy as np
import pytest
from conftest import assert_close
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from sciml.gp import GroupedExactGP


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(60, 3))
    smooth = np.stack([np.sin(inputs[:, 0]) + 0.3 * inputs[:, 1] ** 2, np.cos(inputs[:, 1])], axis=1)
    targets = [smooth + 1e-2 * rng.normal(size=smooth.shape), 0.5 * inputs[:, 2:] + 1e-3 * rng.normal(size=(60, 1))]
    return inputs, targets, rng.normal(size=(15, 3))


@pytest.fixture(scope="module")
def fitted(problem):
    inputs, targets, _ = problem
    return GroupedExactGP(restarts=2, max_iter=60).fit(inputs, targets)


def sklearn_gp(gp, g, inputs, targets, optimize: bool):
    kernel = ConstantKernel(gp.outputscale_[g], (1e-4, 1e4)) * Matern(gp.lengthscale_[g], (1e-2, 1e4), nu=2.5)
    kernel += WhiteKernel(gp.noise_[g], (1e-8, 1.0))
    return GaussianProcessRegressor(kernel, alpha=0.0,
                                    optimizer="fmin_l_bfgs_b" if optimize else None).fit(inputs, targets)


def test_posterior_matches_sklearn_at_the_same_hyperparameters(problem, fitted):
    inputs, targets, test = problem
    for g, (mean, variance) in enumerate(fitted.predict(test)):
        reference = sklearn_gp(fitted, g, inputs, targets[g], optimize=False)
        ref_mean, ref_std = reference.predict(test, return_std=True)
        ref_variance = ref_std if ref_std.ndim == 1 else ref_std[:, 0]
        assert_close(mean, ref_mean.reshape(mean.shape), rtol=1e-5, atol=1e-6, what=f"posterior mean of group {g}")
        assert_close(variance, ref_variance**2, rtol=1e-4, atol=1e-9, what=f"predictive variance of group {g}")
        nll = -reference.log_marginal_likelihood_value_ / targets[g].size
        assert_close(fitted.negative_log_likelihood_[g], nll, rtol=1e-6, what=f"marginal likelihood of group {g}")


def test_optimum_is_as_good_as_sklearns(problem, fitted):
    """L-BFGS in log space reaches scikit-learn's optimum (restarted from ours) to 1e-3 per observation."""
    inputs, targets, _ = problem
    for g in range(len(targets)):
        refit = sklearn_gp(fitted, g, inputs, targets[g], optimize=True)
        assert fitted.negative_log_likelihood_[g] <= -refit.log_marginal_likelihood_value_ / targets[g].size + 1e-3


def test_hyperparameters_alone_rebuild_the_fitted_posterior(problem, fitted):
    """`from_hyperparameters` (what a reloaded MMGP uses) predicts what the fitted GP predicts, without fitting."""
    inputs, targets, test = problem
    rebuilt = GroupedExactGP.from_hyperparameters(inputs, targets, fitted.lengthscale_, fitted.outputscale_,
                                                  fitted.noise_)
    for g, ((mean, variance), (again, again_variance)) in enumerate(zip(fitted.predict(test), rebuilt.predict(test),
                                                                         strict=True)):
        assert_close(again, mean, rtol=1e-12, atol=1e-14, what=f"rebuilt posterior mean of group {g}")
        assert_close(again_variance, variance, rtol=1e-12, atol=1e-14, what=f"rebuilt variance of group {g}")


def test_bad_shapes_and_settings_are_rejected(problem):
    inputs, targets, _ = problem
    with pytest.raises(ValueError, match="n rows"):
        GroupedExactGP().fit(inputs, [targets[0][:10]])
    with pytest.raises(ValueError, match="restarts"):
        GroupedExactGP(restarts=0)


def test_closed_form_likelihood_gradient_matches_autograd_through_cholesky():
    """The hand-written gradient of the marginal likelihood equals torch autograd through a Cholesky factorisation."""
    import torch

    from sciml.gp._regression import _gaussian_nll_function

    rng = np.random.default_rng(1)
    factor = rng.normal(size=(2, 30, 30))
    covariance = torch.tensor(factor @ factor.transpose(0, 2, 1) + 30 * np.eye(30), requires_grad=True)
    targets, columns = torch.tensor(rng.normal(size=(2, 30, 3))), torch.tensor([3.0, 2.0])
    targets[1, :, 2] = 0.0  # group 1 has 2 columns, padded with zeros
    weights = torch.tensor([0.7, 1.3])
    (_gaussian_nll_function().apply(covariance, targets, columns) * weights).sum().backward()
    ours = covariance.grad.clone()
    covariance.grad = None
    cholesky = torch.linalg.cholesky(covariance)
    solved = torch.linalg.solve_triangular(cholesky, targets, upper=False)
    logdet = 2 * torch.log(cholesky.diagonal(dim1=-2, dim2=-1)).sum(-1)
    reference = 0.5 * ((solved**2).sum(dim=(-1, -2)) / columns + logdet) / 30 + 0.5 * np.log(2 * np.pi)
    (reference * weights).sum().backward()
    assert_close(ours.numpy(), covariance.grad.numpy(), rtol=1e-9, atol=1e-14, what="dNLL/dK")
