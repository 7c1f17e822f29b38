"""Exact GP regression with gpytorch: groups of outputs, each group sharing one anisotropic Matern-5/2 kernel."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
from jaxtyping import Float

from sciml._errors import DataError


@contextlib.contextmanager
def _torch_threads(threads: int):
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _kernel_and_likelihood(batch_shape, n_features: int):
    """Matern-5/2 ARD kernel with output scale, and Gaussian noise; all hyperparameters optimised in log space."""
    import gpytorch
    import torch

    def log_scale(lower: float = 0.0):
        return gpytorch.constraints.GreaterThan(lower, transform=torch.exp, inv_transform=torch.log)

    kernel = gpytorch.kernels.ScaleKernel(
        gpytorch.kernels.MaternKernel(
            nu=2.5, ard_num_dims=n_features, batch_shape=batch_shape, lengthscale_constraint=log_scale()
        ),
        batch_shape=batch_shape,
        outputscale_constraint=log_scale(),
    )
    likelihood = gpytorch.likelihoods.GaussianLikelihood(batch_shape=batch_shape, noise_constraint=log_scale(1e-8))
    return kernel.double(), likelihood.double()


def _padded(targets: Sequence[np.ndarray]) -> np.ndarray:
    """Target matrices (n, m_g) as one (G, n, max m_g) array, zero-padded."""
    padded = np.zeros((len(targets), len(targets[0]), max(t.shape[1] for t in targets)))
    for g, t in enumerate(targets):
        padded[g, :, : t.shape[1]] = t
    return padded


def _cholesky(covariance):
    """Batched Cholesky factor; members that are not numerically positive definite get a small diagonal jitter."""
    import torch

    factor, info = torch.linalg.cholesky_ex(covariance)
    if bool((info > 0).any()):
        jitter = 1e-8 * covariance.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None]
        factor = torch.linalg.cholesky(covariance + jitter * torch.eye(covariance.shape[-1], dtype=covariance.dtype))
    return factor


def _gaussian_nll_function():
    import torch

    class GaussianNLL(torch.autograd.Function):
        """Exact GP negative log marginal likelihood per observation of (..., n, m) targets sharing one (..., n, n)
        covariance K, ``(tr(Y^T K^-1 Y) / m + log det K) / 2n + log(2 pi) / 2``, with the closed-form gradient
        ``(K^-1 - K^-1 Y Y^T K^-1 / m) / 2n``: one Cholesky and one inverse, instead of differentiating through
        the Cholesky factorisation."""

        @staticmethod
        def forward(ctx, covariance, rhs, columns):
            factor = _cholesky(covariance)
            alpha = torch.cholesky_solve(rhs, factor)
            n = covariance.shape[-1]
            inv_quad = (rhs * alpha).sum(dim=(-1, -2))
            logdet = 2 * torch.log(factor.diagonal(dim1=-2, dim2=-1)).sum(-1)
            ctx.save_for_backward(factor, alpha, columns)
            return 0.5 * (inv_quad / columns + logdet) / n + 0.5 * np.log(2 * np.pi)

        @staticmethod
        def backward(ctx, grad):
            factor, alpha, columns = ctx.saved_tensors
            n = factor.shape[-1]
            outer = alpha @ alpha.transpose(-1, -2) / columns[..., None, None]
            gradient = 0.5 * (torch.cholesky_inverse(factor) - outer) / n
            return gradient * grad[..., None, None], None, None

    return GaussianNLL


class GroupedExactGP:
    """G exact GPs on shared inputs; GP g regresses an (n, m_g) target matrix with one kernel and noise for its columns.

    This is MMGP's regression stage: one GP per output field (its PCA coefficients are the columns) and one per output
    scalar, each with an anisotropic Matern-5/2 kernel (ARD lengthscales, output scale) and Gaussian noise. All G groups
    and `restarts` initialisations form one gpytorch batch (G x restarts kernels); the exact marginal likelihood of
    every batch member is maximised with L-BFGS (strong Wolfe line search) and each group keeps its best restart. The
    likelihood's gradient with respect to the covariance is taken in closed form (one Cholesky inverse) and only the
    kernel is differentiated by autograd, which is about twice as fast as differentiating through the factorisation.

    Args:
        restarts: initialisations per group (the first has all lengthscales 2, the others log-uniform in [0.5, 8]).
        max_iter: L-BFGS iterations.
        seed: seed of the random initialisations.
        threads: torch threads while fitting and predicting (the previous setting is restored afterwards).
    """

    def __init__(self, *, restarts: int = 3, max_iter: int = 100, seed: int = 0, threads: int = 1):
        if restarts < 1 or max_iter < 1 or threads < 1:
            raise ValueError(
                f"GroupedExactGP: restarts, max_iter and threads must be >= 1, got {restarts}, {max_iter} and {threads}"
            )
        self.restarts, self.max_iter, self.seed, self.threads = restarts, max_iter, seed, threads

    def fit(self, inputs: Float[np.ndarray, "n d"], targets: Sequence[Float[np.ndarray, "_n _m"]]) -> GroupedExactGP:
        with _torch_threads(self.threads):
            return self._fit(inputs, targets)

    def _fit(self, inputs, targets) -> GroupedExactGP:
        import torch

        inputs = np.asarray(inputs, np.float64)
        targets = [np.asarray(t, np.float64).reshape(len(t), -1) for t in targets]
        if inputs.ndim != 2 or any(len(t) != len(inputs) for t in targets):
            raise DataError(
                f"GroupedExactGP.fit: expected inputs (n, d) and target matrices with n rows, got {inputs.shape} and "
                f"{[t.shape for t in targets]}"
            )
        n, d = inputs.shape
        groups, widths = len(targets), np.array([t.shape[1] for t in targets])
        padded = _padded(targets)
        x = torch.as_tensor(inputs)
        rhs = torch.as_tensor(padded)[:, None].expand(groups, self.restarts, n, widths.max())
        columns = torch.as_tensor(widths, dtype=torch.float64)[:, None]

        batch = torch.Size([groups, self.restarts])
        kernel, likelihood = _kernel_and_likelihood(batch, d)
        generator = torch.Generator().manual_seed(self.seed)
        lengthscale = torch.empty(groups, self.restarts, 1, d, dtype=torch.float64)
        lengthscale.uniform_(np.log(0.5), np.log(8.0), generator=generator).exp_()
        lengthscale[:, 0] = 2.0
        kernel.base_kernel.lengthscale = lengthscale
        kernel.outputscale = torch.ones(batch, dtype=torch.float64)
        likelihood.noise = torch.full((*batch, 1), 1e-2, dtype=torch.float64)
        optimizer = torch.optim.LBFGS(
            [*kernel.parameters(), *likelihood.parameters()],
            max_iter=self.max_iter,
            line_search_fn="strong_wolfe",
            tolerance_change=1e-12,
        )

        identity = torch.eye(n, dtype=torch.float64)
        gaussian_nll = _gaussian_nll_function()

        def negative_log_likelihood():
            covariance = kernel(x).to_dense() + likelihood.noise[..., None] * identity
            return gaussian_nll.apply(covariance, rhs, columns)

        def closure():
            optimizer.zero_grad()
            loss = negative_log_likelihood().sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            final = torch.nan_to_num(negative_log_likelihood(), nan=np.inf)
        best = final.argmin(dim=1)
        pick = torch.arange(groups)
        self.negative_log_likelihood_ = final[pick, best].numpy()
        self._condition(inputs, targets, kernel.base_kernel.lengthscale.detach()[pick, best, 0].numpy(),
                        kernel.outputscale.detach()[pick, best].numpy(),
                        likelihood.noise.detach()[pick, best, 0].numpy())
        return self

    @classmethod
    def from_hyperparameters(
        cls,
        inputs: Float[np.ndarray, "n d"],
        targets: Sequence[Float[np.ndarray, "_n _m"]],
        lengthscale: Float[np.ndarray, "G d"],
        outputscale: Float[np.ndarray, " G"],
        noise: Float[np.ndarray, " G"],
        *,
        threads: int = 1,
    ) -> GroupedExactGP:
        """The posterior of G groups with given hyperparameters (e.g. those of an earlier `fit`) on training inputs
        and target matrices, without optimising anything; `predict` then gives what the fitted GP gave."""
        gp = cls(threads=threads)
        with _torch_threads(threads):
            gp._condition(np.asarray(inputs, np.float64), [np.asarray(t, np.float64).reshape(len(t), -1)
                                                           for t in targets], lengthscale, outputscale, noise)
        return gp

    def _condition(self, inputs, targets, lengthscale, outputscale, noise) -> None:
        """Store the hyperparameters and the Cholesky factor and weights of the posterior on (inputs, targets)."""
        import torch

        n, d = inputs.shape
        self.lengthscale_, self.outputscale_, self.noise_ = (np.asarray(a, np.float64)
                                                             for a in (lengthscale, outputscale, noise))
        x = torch.as_tensor(inputs)
        self._inputs, self._widths = x, np.array([t.shape[1] for t in targets])
        self._kernel, _ = _kernel_and_likelihood(torch.Size([len(targets)]), d)
        self._kernel.base_kernel.lengthscale = torch.as_tensor(self.lengthscale_)[:, None]
        self._kernel.outputscale = torch.as_tensor(self.outputscale_)
        with torch.no_grad():
            noisy = (self._kernel(x).to_dense()
                     + torch.as_tensor(self.noise_)[:, None, None] * torch.eye(n, dtype=torch.float64))
            self._cholesky = torch.linalg.cholesky(noisy)
            self._weights = torch.cholesky_solve(torch.as_tensor(_padded(targets)), self._cholesky)

    def predict(
        self, inputs: Float[np.ndarray, "t d"]
    ) -> list[tuple[Float[np.ndarray, "t m"], Float[np.ndarray, " t"]]]:
        """Per group: posterior predictive mean (t, m_g) and variance (t,) (latent variance plus noise)."""
        import torch

        x = torch.as_tensor(np.asarray(inputs, np.float64))
        with torch.no_grad(), _torch_threads(self.threads):
            cross = self._kernel(x, self._inputs).to_dense()
            mean = cross @ self._weights
            half = torch.linalg.solve_triangular(self._cholesky, cross.transpose(-1, -2), upper=False)
            latent_variance = torch.as_tensor(self.outputscale_)[:, None] - (half**2).sum(dim=1)
            variance = latent_variance.clamp_min(0.0) + torch.as_tensor(self.noise_)[:, None]
        return [(mean[g, :, :w].numpy(), variance[g].numpy()) for g, w in enumerate(self._widths)]
