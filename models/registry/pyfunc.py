"""The MLflow model of the classifier ("models from code": nothing of it is pickled).

In (artifacts): LightGBM's native model file, the calibration JSON and the feature spec (and the test
window's score distribution, read by the service for specialist thresholds, not by predict). In (predict):
a table of the spec's model features, one row per contact (extra columns are ignored; categories not
seen in training count as missing). Out: the calibrated probability of a repeat, one per row.
The model ships one module of project code beside this file: models/scoring.py.
"""

from __future__ import annotations

import json

import lightgbm as lgb
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import set_model

try:  # inside the project
    from models.scoring import Calibrator, model_frame
except ImportError:  # inside the logged MLflow model, whose code folder holds scoring.py alone
    from scoring import Calibrator, model_frame


class FCRModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.booster = lgb.Booster(model_file=context.artifacts["booster"])
        self.calibrator = Calibrator.from_dict(json.loads(open(context.artifacts["calibration"]).read()))
        self.spec = json.loads(open(context.artifacts["feature_spec"]).read())

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> np.ndarray:
        raw = self.booster.predict(model_frame(pd.DataFrame(model_input), self.spec), raw_score=True)
        return self.calibrator(raw)


set_model(FCRModel())
