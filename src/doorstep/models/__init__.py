"""Model adapters: one class per library, each implementing :class:`doorstep.core.ports.Model`.

=========== ===================================== ===========================================
kind        artifact                              explanations
=========== ===================================== ===========================================
lightgbm    native text model (``tree`` first)    exact, LightGBM ``pred_contrib``
xgboost     JSON / UBJ model (``Booster``)        exact, XGBoost ``pred_contribs``
sklearn     joblib file (estimator or Pipeline)   exact TreeSHAP for trees, else permutation
onnx        ``.onnx`` file (onnxruntime)          permutation
mlflow      MLflow model folder (``MLmodel``)     native for LightGBM/XGBoost, else permutation
=========== ===================================== ===========================================

Adapters are registered as entry points (group ``doorstep.models``, see :mod:`doorstep.plugins`)
and import their library only when a model is loaded, so importing doorstep stays cheap and the
optional extras (``xgboost``, ``onnx``, ``mlflow``) are needed only by those who use them.
"""

from __future__ import annotations

__all__: list[str] = []
