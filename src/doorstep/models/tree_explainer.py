"""The choice between doorstep's ``linear-treeshap`` and a tree library's own TreeSHAP.

A model adapter holds one :class:`TreeExplainer`, gives it a way to read its trees into a
:class:`~doorstep.explainers.treeshap.TreeEnsemble`, and asks it, per batch, whether to explain
with the compiled forest (and does so through :meth:`TreeExplainer.explain`) or with its
library's routine. The trees are compiled on first use (at app load, when the spec's reference
rows are explained once), never again for the same model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt

from doorstep.errors import ExplanationError
from doorstep.explainers.linear_treeshap import CompiledForest, compile_forest, linear_tree_shap
from doorstep.explainers.treeshap import TreeEnsemble

__all__ = ["LINEAR", "TreeExplainer"]

F64 = npt.NDArray[np.float64]
LINEAR = "linear-treeshap"
_PARALLEL_ROWS = 512
"""Below this many rows one thread explains faster than two. A parallel region waits for its
slowest thread, and on a busy machine (a server's other workers, other jobs) a thread that lost
its core holds the region up for a scheduling slice: on 2 cores under load, two threads took
5.5x the time of one for 16 rows, 2.1x for 64, 1.15x for 256 and 0.64x for 1,024. Online
micro-batches (at most 256 records) are explained on one thread, files in parallel."""


class TreeExplainer:
    """Compiles a model's trees once and says which exact method explains its batches."""

    def __init__(self, read: Callable[[], TreeEnsemble], *, native: str, threads: int) -> None:
        self._read = read
        self.native = native
        """The library routine's method name, e.g. ``lightgbm-native``."""
        self._threads = threads
        self._forest: CompiledForest | None = None
        self._refusal: str | None = None
        self._choice: Literal["auto", "linear", "native"] = "auto"

    def forest(self) -> CompiledForest | None:
        """The compiled trees, or ``None`` when they cannot be read exactly (see ``refusal``)."""
        if self._forest is None and self._refusal is None:
            try:
                self._forest = compile_forest(self._read())
            except ExplanationError as exc:
                self._refusal = exc.message
        return self._forest

    @property
    def refusal(self) -> str | None:
        """Why the trees could not be compiled (``None``: they were, or were not tried)."""
        return self._refusal

    def use(self, method: Literal["auto", "linear", "native"]) -> str:
        """Apply the spec's choice; returns the method name contributions will carry."""
        if method == "linear" and self.forest() is None:
            raise ExplanationError(
                f"linear-treeshap cannot explain this model: {self._refusal} Use "
                f"'explain.method: native' ({self.native}) or 'auto'."
            )
        self._choice = method
        return self.method()

    def method(self) -> str:
        """The method the next batch is explained with."""
        if self._choice == "native":
            return self.native
        return LINEAR if self.forest() is not None else self.native

    def precomputation(self) -> tuple[float, int] | None:
        """Seconds and bytes of the compilation, when ``linear-treeshap`` is in use."""
        forest = self._forest
        if forest is None or self.method() != LINEAR:
            return None
        return forest.seconds, forest.nbytes

    def explain(self, matrix: F64) -> tuple[F64, F64]:
        """``(values (rows, outputs, d), base (rows, outputs))`` from the compiled forest."""
        forest = self.forest()
        assert forest is not None
        threads = self._threads if matrix.shape[0] >= _PARALLEL_ROWS else 1
        values, base = linear_tree_shap(forest, matrix, threads=threads)
        return values, np.repeat(base[None, :], matrix.shape[0], axis=0)
