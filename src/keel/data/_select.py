"""Feature selection after encoding: variance threshold, mutual-information top-k, PCA.

Fitted on the encoded training rows (scikit-learn's ``VarianceThreshold``,
``mutual_info_classif``/``mutual_info_regression`` and ``PCA``), then stored as plain arrays —
the kept column indices, and PCA's mean and components — so the predictor's files stay JSON +
safetensors and :meth:`FeatureStep.apply` is a slice and a matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from keel.data.config import FeaturesConfig
from keel.errors import DataError

__all__ = ["FeatureStep"]


@dataclass
class FeatureStep:
    """Which encoded columns are kept, and the optional PCA projection of them."""

    keep: np.ndarray  # int64 indices into the encoded columns
    names: list[str]  # names of the output columns
    mean: np.ndarray | None = None  # PCA: (n_keep,)
    components: np.ndarray | None = None  # PCA: (k, n_keep)

    @property
    def width(self) -> int:
        return len(self.names)

    @classmethod
    def fit(
        cls, x: np.ndarray, names: list[str], cfg: FeaturesConfig, y: np.ndarray | None,
        task: str, seed: int, scale: np.ndarray | None = None,
    ) -> FeatureStep:  # fmt: skip
        """``scale`` undoes numeric scaling for the variance test (a standardised column always
        has variance 1): variances are of the values as they came, one-hot columns as 0/1."""
        keep = np.arange(x.shape[1])
        if cfg.variance_threshold is not None:
            raw = x if scale is None else x * scale
            variances = raw.var(axis=0)
            keep = np.flatnonzero(variances > cfg.variance_threshold)
            if not len(keep):
                raise DataError(
                    f"[data.features] variance_threshold = {cfg.variance_threshold:g} removes "
                    f"every column (the largest variance is {variances.max():.3g}); lower it"
                )
        if cfg.select_k is not None and cfg.select_k < len(keep):
            if y is None:
                raise DataError("[data.features] select_k needs the target to rank columns")
            from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

            score = mutual_info_classif if task == "classification" else mutual_info_regression
            mi = score(x[:, keep], y, random_state=seed)
            best = np.sort(np.argsort(-mi, kind="stable")[: cfg.select_k])
            keep = keep[best]
        kept_names = [names[i] for i in keep]
        if cfg.pca is None:
            return cls(keep.astype(np.int64), kept_names)
        k = min(cfg.pca, len(keep), len(x))
        from sklearn.decomposition import PCA

        pca = PCA(n_components=k, random_state=seed).fit(x[:, keep].astype(np.float64))
        return cls(
            keep.astype(np.int64), [f"pc{i + 1}" for i in range(k)],
            pca.mean_.astype(np.float64), pca.components_.astype(np.float64),
        )  # fmt: skip

    def apply(self, x: np.ndarray) -> np.ndarray:
        kept = x[:, self.keep]
        if self.components is None:
            return np.ascontiguousarray(kept, dtype=np.float32)
        assert self.mean is not None
        return ((kept - self.mean) @ self.components.T).astype(np.float32)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = {"keep": self.keep}
        if self.components is not None and self.mean is not None:
            arrays.update(mean=self.mean, components=self.components)
        return {"names": self.names, "pca": self.components is not None}, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> FeatureStep:
        if meta.get("pca"):
            return cls(
                np.asarray(arrays["keep"], dtype=np.int64), list(meta["names"]),
                np.asarray(arrays["mean"]), np.asarray(arrays["components"]),
            )  # fmt: skip
        return cls(np.asarray(arrays["keep"], dtype=np.int64), list(meta["names"]))
