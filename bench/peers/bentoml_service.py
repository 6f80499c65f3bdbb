"""The churn model on BentoML, predict only: the peer of the decision-service benchmark.

    cd bench/peers && PEER_MODEL=/abs/model.lgb.txt PEER_WORKERS=1 \\
        ../.data/venvs/bentoml/bin/bentoml serve bentoml_service:Churn --port 3000

``POST /predict`` with ``{"row": [12 floats]}`` (the model's features in order, categories as
their codes) answers the score. Runs in BentoML's own virtual environment (bench/peers/setup.sh),
not doorstep's.
"""

from __future__ import annotations

import os

import bentoml
import lightgbm as lgb
import numpy as np


@bentoml.service(workers=int(os.environ.get("PEER_WORKERS", "1")), traffic={"timeout": 30})
class Churn:
    def __init__(self) -> None:
        self.booster = lgb.Booster(model_file=os.environ["PEER_MODEL"])

    @bentoml.api
    def predict(self, row: list[float]) -> float:
        return float(self.booster.predict(np.asarray([row], dtype=np.float64))[0])
