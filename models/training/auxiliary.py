"""The two models beside the routing model, fitted in the train stage with the same windows and params.

- case mix: the routing model's features without those of the agent family; it gives the FCR
  expected for the contacts an agent or team actually got (the report's fair scorecards).
- after contact: the routing features plus those known only once the contact has ended (transfers,
  handle time, disposition). It cannot route; explain shows where the process ranks among the drivers.

In: the feature table, its spec, the `train` section. Out: `SavedModel`s (booster, calibration fitted on
the validation window with `train.calibration`, the spec with the model's own feature list).
"""

from __future__ import annotations

import logging

from models.model_files import SavedModel
from models.training.calibration import fit_calibrator
from models.measures import raw_scores
from models.training.fit import Windows, fit_on_windows, prepare_windows
from models.config import TrainConfig

log = logging.getLogger(__name__)
AGENT_FAMILY = "agent"  # features of this family are left out of the case-mix model


def casemix_spec(spec: dict) -> dict:
    """The spec of the case-mix model: the model features that describe the contact, not who handled it."""
    family = {f["name"]: f["family"] for f in spec["features"]}
    return dict(spec, model_features=[n for n in spec["model_features"] if family[n] != AGENT_FAMILY])


def after_contact_spec(spec: dict) -> dict:
    """The spec of the after-contact diagnostic model: routing features + those known after the contact."""
    extra = [f["name"] for f in spec["features"] if f["availability"] == "after_contact" and f.get("in_model", True)]
    return dict(spec, model_features=[*spec["model_features"], *[n for n in extra if n not in spec["model_features"]]])


def training_spec(spec: dict, cfg: TrainConfig) -> dict:
    """The union of the features of the models params ask for: the routing model's, plus the after-contact
    ones when that model is on (the case-mix model's are a subset). The shared model frame is built for it."""
    return after_contact_spec(spec) if cfg.after_contact_model else spec


def fit_model(table, spec: dict, cfg: TrainConfig, windows: Windows | None = None) -> SavedModel:
    """LightGBM on the train window (early stopping on validation), calibrated on validation. `windows`: the
    split and model frame shared with the other models; built here for `spec` when None."""
    windows = windows or prepare_windows(table, spec, cfg.split)
    fit = fit_on_windows(windows, spec, cfg.lightgbm, cfg.seed, cfg.auxiliary_rows, cfg.max_valid_rows)
    valid = fit.valid
    calibrator = fit_calibrator(raw_scores(fit.booster, fit.X(valid)), fit.y[valid], cfg.calibration)
    return SavedModel(fit.booster, calibrator, fit.spec)


def auxiliary_models(windows: Windows, spec: dict, cfg: TrainConfig) -> dict[str, SavedModel]:
    """The case-mix and after-contact models that params ask for (train.casemix_model, train.after_contact_model),
    on the windows the routing model was fitted on."""
    wanted = {"casemix": (cfg.casemix_model, casemix_spec), "after_contact": (cfg.after_contact_model,
                                                                              after_contact_spec)}
    models = {}
    for name, (on, make_spec) in wanted.items():
        sub = make_spec(spec)
        if not on or not sub["model_features"]:
            log.info("%s model: skipped (%s)", name, "off in params" if not on else "no features")
            continue
        models[name] = fit_model(None, sub, cfg, windows)
        log.info("%s model: %d features, %d trees", name, len(sub["model_features"]), models[name].booster.num_trees())
    return models
