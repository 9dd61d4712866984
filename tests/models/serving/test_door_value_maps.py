"""The service's door reads an extra column's value as ingest reads the export: its value map first."""

from __future__ import annotations

import pytest

from features.spec import ExtraColumn
from models.serving.mapping import DoorMapping


def test_the_value_map_of_an_extra_column_applies_at_the_door():
    door = DoorMapping(extra_columns={"vip": ExtraColumn("flag", "arrival", "VIP")},
                       value_maps={"vip": {"s": "yes", "n": "no", "?": "drop"}})
    assert door.extra("flag", "S", "vip") is True and door.extra("flag", " n ", "vip") is False
    assert door.extra("flag", "yes", "vip") is True  # ingest's own words still hold
    with pytest.raises(ValueError, match="drops"):
        door.extra("flag", "?", "vip")
    with pytest.raises(ValueError, match="not a yes/no value"):
        door.extra("flag", "S", None)  # without its map, S is no yes/no word
