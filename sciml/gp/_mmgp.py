"""MeshMorphingGP: GP regression of fields and scalars over meshes of varying geometry (Casenave et al., NeurIPS 2023).

Pipeline: morph every mesh onto the unit disk (Floater's parametrization with landmarks, mean-value weights by
default), take the morphed mesh of the middle training sample as common support, transfer coordinates and fields onto
it with P1 interpolation, reduce them with mass-weighted PCA, regress the PCA coefficients of each field and each
output scalar on (shape coefficients, input scalars) with exact Matern-5/2 GPs (one GP per field, its coefficients
divided by one common scale so that the shared noise is measured in field units and the leading modes weigh most),
and map posterior samples back through the PCA decoding and the interpolation onto each sample's own mesh, plus nodal
noise with the training reconstruction error of the pipeline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import equinox as eqx
import numpy as np
import scipy.sparse as sp
from jaxtyping import Float

from sciml._errors import DataError
from sciml.gp._mesh import TriangleMesh
from sciml.gp._morphing import interpolation_operator, mass_matrix, morph_to_disk
from sciml.gp._pca import MassWeightedPCA
from sciml.gp._regression import GroupedExactGP


@dataclasses.dataclass(frozen=True)
class Prediction:
    """Mean, standard deviation and central interval of one output; fields hold one array per sample (own mesh)."""

    mean: list[np.ndarray] | np.ndarray
    std: list[np.ndarray] | np.ndarray
    lower: list[np.ndarray] | np.ndarray
    upper: list[np.ndarray] | np.ndarray


@dataclasses.dataclass(frozen=True)
class _Morphed:
    mesh: TriangleMesh
    disk: np.ndarray
    to_common: sp.csr_matrix | None


class MMGPState(eqx.Module):
    """The arrays that define a fitted `MeshMorphingGP`'s predictor, as NumPy leaves (float64; saved and loaded with
    `eqx.tree_serialise_leaves` / `tree_deserialise_leaves`): the common support (mesh (n_c, 2), (m_c, 3) and its
    morphed disk (n_c, 2)), the shape PCA (mean (n_c, 2), modes (k_s, n_c, 2)), the input standardisation (d,) and
    standardised training inputs (n, d); per field its PCA (mean (n_c, 1), modes (k_f, n_c, 1)) and reconstruction
    variance (n_c,) (none without reconstruction noise); per output, fields then scalars, its target offset and scale
    (m_g,) and standardised training targets (n, m_g); the GP hyperparameters: lengthscales (G, d), output scales and
    noises (G,)."""

    common_points: np.ndarray
    common_triangles: np.ndarray
    common_disk: np.ndarray
    shape_mean: np.ndarray
    shape_modes: np.ndarray
    input_mean: np.ndarray
    input_scale: np.ndarray
    train_inputs: np.ndarray
    field_means: tuple[np.ndarray, ...]
    field_modes: tuple[np.ndarray, ...]
    reconstruction_variance: tuple[np.ndarray, ...]
    target_offset: tuple[np.ndarray, ...]
    target_scale: tuple[np.ndarray, ...]
    train_targets: tuple[np.ndarray, ...]
    lengthscale: np.ndarray
    outputscale: np.ndarray
    noise: np.ndarray
    field_names: tuple[str, ...] = eqx.field(static=True)
    scalar_names: tuple[str, ...] = eqx.field(static=True)

    @classmethod
    def like(cls, *, n_common: int, n_triangles: int, n_train: int, n_scalar_inputs: int, n_shape_modes: int,
             n_field_modes: int, field_names: Sequence[str], scalar_names: Sequence[str],
             reconstruction_noise: bool = True) -> MMGPState:
        """Zeros of the shapes and dtypes a fit with these sizes gives (for `tree_deserialise_leaves`)."""
        d, groups = n_shape_modes + n_scalar_inputs, len(field_names) + len(scalar_names)
        widths = [n_field_modes] * len(field_names) + [1] * len(scalar_names)
        fields = len(field_names)
        return cls(
            np.zeros((n_common, 2)), np.zeros((n_triangles, 3), np.int64), np.zeros((n_common, 2)),
            np.zeros((n_common, 2)), np.zeros((n_shape_modes, n_common, 2)), np.zeros(d), np.zeros(d),
            np.zeros((n_train, d)), tuple(np.zeros((n_common, 1)) for _ in range(fields)),
            tuple(np.zeros((n_field_modes, n_common, 1)) for _ in range(fields)),
            tuple(np.zeros(n_common) for _ in range(fields * reconstruction_noise)),
            tuple(np.zeros(w) for w in widths), tuple(np.zeros(w) for w in widths),
            tuple(np.zeros((n_train, w)) for w in widths), np.zeros((groups, d)), np.zeros(groups), np.zeros(groups),
            tuple(field_names), tuple(scalar_names),
        )


def _as_mesh(mesh) -> TriangleMesh:
    if isinstance(mesh, TriangleMesh):
        return mesh
    points, triangles = mesh
    return TriangleMesh(points, triangles)


class MeshMorphingGP:
    """MMGP regressor with a scikit-learn-style `fit` / `predict`.

    Args:
        landmarks: (l, 2) boundary points present in every mesh (e.g. the corners of a plate), counter-clockwise.
        n_shape_modes: PCA modes of the morphed-and-transferred node coordinates (the shape descriptor).
        morphing_weights: "mean_value" (Floater) or "uniform" (Tutte) neighbour weights of the morphing.
        n_field_modes: PCA modes per output field.
        restarts, max_iter: hyperparameter optimisation of the GPs (see `GroupedExactGP`).
        n_samples: posterior samples pushed through the decoding for the std and the quantiles.
        reconstruction_noise: add to each field sample independent nodal noise with the variance of the pipeline's
            reconstruction error (transfer round trip and PCA truncation), estimated on the training set, so that the
            intervals cover what the GP posterior cannot see.
        interval: level of the central prediction interval (0.95 -> 2.5% and 97.5% quantiles).
        seed: seed of the GP initialisations and of the posterior sampling.
        threads: torch threads of the GP stage.
    """

    def __init__(
        self,
        landmarks: Float[np.ndarray, "l 2"],
        *,
        n_shape_modes: int = 16,
        morphing_weights: str = "mean_value",
        n_field_modes: int = 16,
        restarts: int = 3,
        max_iter: int = 100,
        n_samples: int = 1000,
        reconstruction_noise: bool = True,
        interval: float = 0.95,
        seed: int = 0,
        threads: int = 1,
    ):
        if not 0 < interval < 1:
            raise ValueError(f"interval must be in (0, 1), got {interval}")
        self.landmarks = np.asarray(landmarks, np.float64)
        self.n_shape_modes, self.n_field_modes = n_shape_modes, n_field_modes
        self.morphing_weights = morphing_weights
        self.restarts, self.max_iter, self.n_samples = restarts, max_iter, n_samples
        self.reconstruction_noise = reconstruction_noise
        self.interval, self.seed, self.threads = interval, seed, threads

    def _morph(self, meshes) -> list[_Morphed]:
        morphed = []
        for mesh in map(_as_mesh, meshes):
            disk = morph_to_disk(mesh, self.landmarks, weights=self.morphing_weights)
            to_common = None if not hasattr(self, "common_") else interpolation_operator(mesh, disk, self.common_disk_)
            morphed.append(_Morphed(mesh, disk, to_common))
        return morphed

    def _check(self, morphed: list[_Morphed], scalars, fields: Mapping[str, Sequence[np.ndarray]] | None = None):
        scalars = np.asarray(scalars, np.float64).reshape(len(morphed), -1)
        for name, values in (fields or {}).items():
            if len(values) != len(morphed):
                raise DataError(f"field {name!r}: expected one array per mesh ({len(morphed)}), got {len(values)}")
            for i, (value, m) in enumerate(zip(values, morphed, strict=True)):
                if np.shape(value) != (m.mesh.n_points,):
                    raise DataError(f"field {name!r} of sample {i}: expected ({m.mesh.n_points},) nodal values, got "
                                    f"{np.shape(value)}")
        return scalars

    def encode_inputs(self, meshes, scalars: Float[np.ndarray, "s p"]) -> Float[np.ndarray, "s d"]:
        """The standardised GP inputs: shape PCA coefficients followed by the input scalars."""
        return self._encode(self._morph(meshes), scalars)

    def _encode(self, morphed: list[_Morphed], scalars) -> np.ndarray:
        scalars = self._check(morphed, scalars)
        if scalars.shape[1] != self.n_scalar_inputs_:
            raise DataError(f"expected {self.n_scalar_inputs_} input scalars per sample, got {scalars.shape[1]}")
        coordinates = np.stack([m.to_common @ m.mesh.points for m in morphed])
        raw = np.concatenate([self.shape_pca_.transform(coordinates), scalars], axis=1)
        return (raw - self.input_mean_) / self.input_scale_

    def fit(
        self,
        meshes: Sequence[TriangleMesh],
        scalars: Float[np.ndarray, "s p"],
        fields: Mapping[str, Sequence[np.ndarray]],
        scalar_outputs: Mapping[str, np.ndarray] | None = None,
    ) -> MeshMorphingGP:
        """Fit on training meshes (TriangleMesh or (points, triangles)), input scalars (s, p), nodal output fields
        (name -> one array per mesh) and output scalars (name -> (s,))."""
        for name in ("common_", "common_disk_"):
            self.__dict__.pop(name, None)
        morphed = self._morph(meshes)
        common_index = len(morphed) // 2
        self.common_, self.common_disk_ = morphed[common_index].mesh, morphed[common_index].disk
        morphed = [dataclasses.replace(m, to_common=interpolation_operator(m.mesh, m.disk, self.common_disk_))
                   for m in morphed]
        scalars = self._check(morphed, scalars, fields)
        self.n_scalar_inputs_ = scalars.shape[1]
        self.mass_ = mass_matrix(self.common_, self.common_disk_)

        coordinates = np.stack([m.to_common @ m.mesh.points for m in morphed])
        self.shape_pca_ = MassWeightedPCA(self.n_shape_modes, self.mass_).fit(coordinates)
        raw = np.concatenate([self.shape_pca_.transform(coordinates), scalars], axis=1)
        spread = raw.std(axis=0)
        # constant inputs stay 0
        self.input_mean_, self.input_scale_ = raw.mean(axis=0), np.where(spread > 1e-12, spread, 1.0)
        self.train_inputs_ = (raw - self.input_mean_) / self.input_scale_

        self.field_pca_, self.train_targets_, self.target_scale_, self.reconstruction_variance_ = {}, {}, {}, {}
        back = ([interpolation_operator(self.common_, self.common_disk_, m.disk) for m in morphed]
                if self.reconstruction_noise else [])
        for name, values in fields.items():
            snapshots = np.stack([m.to_common @ np.asarray(v, np.float64)
                                  for m, v in zip(morphed, values, strict=True)])[:, :, None]
            pca = MassWeightedPCA(self.n_field_modes, self.mass_).fit(snapshots)
            coefficients = pca.transform(snapshots)
            self.field_pca_[name] = pca
            self.target_scale_[name] = (np.zeros(coefficients.shape[1]),
                                        np.full(coefficients.shape[1], coefficients[:, 0].std()))
            self.train_targets_[name] = coefficients / self.target_scale_[name][1]
            if self.reconstruction_noise:
                reconstructed = pca.inverse_transform(coefficients)[:, :, 0]
                errors = [m.to_common @ (np.asarray(v, np.float64) - q @ r)
                          for m, v, q, r in zip(morphed, values, back, reconstructed, strict=True)]
                self.reconstruction_variance_[name] = np.mean(np.square(errors), axis=0)
        for name, values in (scalar_outputs or {}).items():
            values = np.asarray(values, np.float64).reshape(len(morphed), 1)
            self.target_scale_[name] = (values.mean(axis=0), values.std(axis=0))
            self.train_targets_[name] = (values - values.mean(axis=0)) / values.std(axis=0)
        self.field_names_ = list(fields)
        self.scalar_output_names_ = list(scalar_outputs or {})
        self.gp_ = GroupedExactGP(restarts=self.restarts, max_iter=self.max_iter, seed=self.seed, threads=self.threads)
        self.gp_.fit(self.train_inputs_, [self.train_targets_[name] for name in self.train_targets_])
        return self

    def state(self) -> MMGPState:
        """The arrays that define this fitted predictor (see `MMGPState`); `from_state` rebuilds it."""
        names = [*self.field_names_, *self.scalar_output_names_]
        return MMGPState(
            self.common_.points, self.common_.triangles, self.common_disk_, self.shape_pca_.mean_,
            self.shape_pca_.modes_, self.input_mean_, self.input_scale_, self.train_inputs_,
            tuple(self.field_pca_[f].mean_ for f in self.field_names_),
            tuple(self.field_pca_[f].modes_ for f in self.field_names_),
            tuple(self.reconstruction_variance_[f] for f in self.field_names_ if self.reconstruction_noise),
            tuple(np.asarray(self.target_scale_[n][0], np.float64) for n in names),
            tuple(np.asarray(self.target_scale_[n][1], np.float64) for n in names),
            tuple(self.train_targets_[n] for n in names), self.gp_.lengthscale_, self.gp_.outputscale_, self.gp_.noise_,
            tuple(self.field_names_), tuple(self.scalar_output_names_),
        )

    @classmethod
    def from_state(cls, state: MMGPState, landmarks: Float[np.ndarray, "l 2"], **settings) -> MeshMorphingGP:
        """The fitted predictor that `state` holds, with the constructor's other `settings` (sampling, interval,
        seed, morphing weights, threads: those of the fit, to reproduce its predictions); the mode counts and the
        reconstruction noise are the state's. Nothing is refitted."""
        sizes = {"n_shape_modes": state.shape_modes.shape[0]}
        if state.field_modes:
            sizes["n_field_modes"] = state.field_modes[0].shape[0]
        model = cls(landmarks, **{**settings, **sizes})
        model.reconstruction_noise = bool(state.reconstruction_variance)
        model.common_, model.common_disk_ = TriangleMesh(state.common_points, state.common_triangles), state.common_disk
        model.mass_ = mass_matrix(model.common_, model.common_disk_)
        model.shape_pca_ = MassWeightedPCA(model.n_shape_modes, model.mass_)
        model.shape_pca_.mean_, model.shape_pca_.modes_ = state.shape_mean, state.shape_modes
        model.n_scalar_inputs_ = state.train_inputs.shape[1] - model.n_shape_modes
        model.input_mean_, model.input_scale_, model.train_inputs_ = (state.input_mean, state.input_scale,
                                                                      state.train_inputs)
        model.field_names_, model.scalar_output_names_ = list(state.field_names), list(state.scalar_names)
        model.field_pca_ = {}
        for name, mean, modes in zip(state.field_names, state.field_means, state.field_modes, strict=True):
            model.field_pca_[name] = MassWeightedPCA(model.n_field_modes, model.mass_)
            model.field_pca_[name].mean_, model.field_pca_[name].modes_ = mean, modes
        model.reconstruction_variance_ = dict(zip(state.field_names, state.reconstruction_variance, strict=False))
        names = [*state.field_names, *state.scalar_names]
        model.target_scale_ = {name: (offset, scale) for name, offset, scale
                               in zip(names, state.target_offset, state.target_scale, strict=True)}
        model.train_targets_ = dict(zip(names, state.train_targets, strict=True))
        model.gp_ = GroupedExactGP.from_hyperparameters(state.train_inputs, list(state.train_targets),
                                                        state.lengthscale, state.outputscale, state.noise,
                                                        threads=model.threads)
        return model

    def decode_field(self, name: str, standardized: Float[np.ndarray, "... k"], mesh_to_own: sp.spmatrix) -> np.ndarray:
        """Standardised PCA coefficients (..., k) of field `name` -> nodal values (..., n) on a sample's own mesh."""
        offset, scale = self.target_scale_[name]
        pca = self.field_pca_[name]
        flat = standardized.reshape(-1, standardized.shape[-1]) * scale + offset
        on_common = pca.inverse_transform(flat)[:, :, 0]
        return (mesh_to_own @ on_common.T).T.reshape(*standardized.shape[:-1], -1)

    def to_common(self, meshes) -> list[sp.csr_matrix]:
        """P1 interpolation operators (n_common, n_i): each mesh's own nodes -> common support."""
        return [m.to_common for m in self._morph(meshes)]

    def from_common(self, meshes) -> list[sp.csr_matrix]:
        """P1 interpolation operators (n_i, n_common): common support -> each mesh's own nodes."""
        return [interpolation_operator(self.common_, self.common_disk_, m.disk) for m in self._morph(meshes)]

    def predict(self, meshes, scalars: Float[np.ndarray, "s p"]) -> dict[str, Prediction]:
        """Predict every output: fields (one array per mesh, on its own nodes) and scalars ((s,) arrays)."""
        morphed = self._morph(meshes)
        inputs = self._encode(morphed, scalars)
        back = [interpolation_operator(self.common_, self.common_disk_, m.disk) for m in morphed]
        rng = np.random.default_rng(self.seed)
        alpha = (1 - self.interval) / 2
        results = {}
        for name, (mean, variance) in zip(self.train_targets_, self.gp_.predict(inputs), strict=True):
            if name in self.field_pca_:
                fields = {"mean": [], "std": [], "lower": [], "upper": []}
                for i, operator in enumerate(back):
                    noise = rng.standard_normal((self.n_samples, mean.shape[1])) * np.sqrt(variance[i])
                    samples = self.decode_field(name, mean[i] + noise, operator)
                    if self.reconstruction_noise:
                        nodal_std = np.sqrt(operator @ self.reconstruction_variance_[name])
                        samples += rng.standard_normal(samples.shape) * nodal_std
                    fields["mean"].append(self.decode_field(name, mean[i], operator))
                    fields["std"].append(samples.std(axis=0))
                    low, high = np.quantile(samples, [alpha, 1 - alpha], axis=0)
                    fields["lower"].append(low)
                    fields["upper"].append(high)
                results[name] = Prediction(**fields)
            else:
                offset, scale = self.target_scale_[name]
                samples = ((mean[:, 0] + rng.standard_normal((self.n_samples, len(mean))) * np.sqrt(variance)) * scale
                           + offset)
                low, high = np.quantile(samples, [alpha, 1 - alpha], axis=0)
                results[name] = Prediction(mean[:, 0] * scale + offset, samples.std(axis=0), low, high)
        return results
