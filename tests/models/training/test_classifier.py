"""The classifier's fit helpers: progress lines during a long fit."""

from __future__ import annotations


def test_progress_logs_trees_and_validation_loss(caplog):
    import logging

    import lightgbm as lgb

    from models.training.classifier import Progress

    env = lgb.callback.CallbackEnv(model=None, params={}, iteration=41, begin_iteration=0, end_iteration=100,
                                   evaluation_result_list=[("valid", "binary_logloss", 0.512345, False)])
    with caplog.at_level(logging.INFO, logger="models.training.classifier"):
        Progress(every_s=3600)(env)  # not yet due
        assert not caplog.records
        Progress(every_s=0)(env)
    assert "42 trees so far, validation log loss 0.51235" in caplog.text
