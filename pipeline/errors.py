"""Why a stage stops on its data (not a bug): too little data, an export that does not map, too many
rejected rows. The stage helper prints the message (which names the count, the column or the param to
change in params.yaml) and exits with status 2, without a traceback."""

from __future__ import annotations


class StageStop(Exception):
    """A stage cannot go on with this data; the message says why and what to change."""


class NotEnoughData(StageStop, ValueError):
    """Too few contacts, repeats or features for the stage's job (the message names the count and the param)."""
