"""Errors that are not bugs: the export, a file or params.yaml must change, and the message says what.

Every `fcr` command and every stage prints such an error as one message and exits with status 2,
without a traceback; `fcr --debug` (or FCR_DEBUG=1 in the environment, e.g. for `dvc repro`) shows
the traceback instead. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import os

DEBUG_ENV = "FCR_DEBUG"  # set (not "" or "0"): expected errors raise with their traceback


class ExpectedError(Exception):
    """Not a bug: the input, a file or params.yaml must change; the message says what."""


class ParamsError(ExpectedError, ValueError):
    """params.yaml is missing, not YAML, or a key or value is wrong (the message names the key)."""


class StageStop(ExpectedError):
    """A stage cannot go on with this data; the message says why and what to change."""


class NotEnoughData(StageStop, ValueError):
    """Too few contacts, repeats or features for the stage's job (the message names the count and the param)."""


def debugging() -> bool:
    """True when expected errors should show their traceback (`fcr --debug`, FCR_DEBUG=1)."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")
