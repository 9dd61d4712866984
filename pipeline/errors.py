"""The project's expected errors (base/errors.py), for the CLI and the stage helper: printed as one message,
exit status 2, unless `fcr --debug` / FCR_DEBUG=1."""

from __future__ import annotations

from base.errors import DEBUG_ENV, ExpectedError, NotEnoughData, ParamsError, StageStop, debugging

__all__ = ["DEBUG_ENV", "ExpectedError", "NotEnoughData", "ParamsError", "StageStop", "debugging"]
