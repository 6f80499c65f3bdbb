"""The floor of the decision-service benchmark: a bare FastAPI endpoint that runs the same
LightGBM model's ``predict`` on a numpy row built from the JSON body, and nothing else (no
validation, no policy, no store, no auth).

    FLOOR_MODEL=path/model.lgb.txt .venv/bin/python -m uvicorn bench.floor_app:app_from_env \\
        --factory --workers 2 --port 8001 --no-access-log

``POST /predict`` takes one record (a JSON object with the model's features by name) and answers
``{"score": p}``. Categories become their index in the model's category list (what LightGBM's
``pandas_categorical`` means), booleans 0/1, missing values NaN.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response

__all__ = ["MODEL_ENV", "RowBuilder", "app_from_env", "create_app"]

MODEL_ENV = "FLOOR_MODEL"


class RowBuilder:
    """JSON record -> float64 row in the booster's feature order."""

    def __init__(self, booster: Any) -> None:
        self.names: list[str] = list(booster.feature_name())
        # pandas_categorical lists the categories of the categorical columns in feature order.
        lists = list(getattr(booster, "pandas_categorical", None) or [])
        self.codes: list[dict[str, float] | None] = [None] * len(self.names)
        for position, values in zip(_categorical_indices(booster), lists, strict=False):
            self.codes[position] = {str(v): float(i) for i, v in enumerate(values)}

    def row(self, record: dict[str, Any]) -> np.ndarray:
        out = np.empty((1, len(self.names)), dtype=np.float64)
        for i, (name, codes) in enumerate(zip(self.names, self.codes, strict=True)):
            value = record.get(name)
            if value is None:
                out[0, i] = math.nan
            elif codes is not None:
                out[0, i] = codes.get(str(value), math.nan)
            else:
                out[0, i] = float(value)
        return out


def _categorical_indices(booster: Any) -> list[int]:
    """Positions of the categorical features, from the model text's ``[categorical_feature: ]``."""
    text = booster.model_to_string(num_iteration=1)
    for line in text.splitlines():
        if line.startswith("[categorical_feature: "):
            inside = line[len("[categorical_feature: ") : -1].strip()
            return [int(v) for v in inside.split(",") if v.strip()]
    return []


def create_app(model_path: str) -> FastAPI:
    import lightgbm as lgb

    booster = lgb.Booster(model_file=model_path)
    builder = RowBuilder(booster)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        record = json.loads(await request.body())
        score = float(booster.predict(builder.row(record), num_threads=1)[0])
        return Response(json.dumps({"score": score}), media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b"{}", media_type="application/json")

    return app


def app_from_env() -> FastAPI:
    """uvicorn factory: the model path comes from ``FLOOR_MODEL``."""
    return create_app(os.environ[MODEL_ENV])
