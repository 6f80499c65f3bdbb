"""Feature attributions: exact TreeSHAP, scikit-learn tree ensembles, a permutation fallback.

- :mod:`~doorstep.explainers.treeshap`: a generic tree-ensemble representation and exact
  path-dependent TreeSHAP over it, in numpy, with native categorical splits.
- :mod:`~doorstep.explainers.sklearn_trees`: reads fitted scikit-learn tree models into it.
- :mod:`~doorstep.explainers.permutation`: model-agnostic antithetic permutation Shapley values
  on polars frames of any column type, exactly additive, with a documented cost bound.
- :mod:`~doorstep.explainers.additivity`: checks ``base + sum(values)`` against predictions.
"""

from __future__ import annotations

from doorstep.explainers.additivity import check_additivity
from doorstep.explainers.permutation import permutation_contributions
from doorstep.explainers.sklearn_trees import supports, tree_contributions
from doorstep.explainers.treeshap import Tree, TreeEnsemble, tree_shap

__all__ = [
    "Tree",
    "TreeEnsemble",
    "check_additivity",
    "permutation_contributions",
    "supports",
    "tree_contributions",
    "tree_shap",
]
