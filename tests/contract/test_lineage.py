"""Which data a model belongs to: a source is its mapping, not its file names; another mapping, other
extra columns or other label rules make another lineage, and a model of another lineage is refused."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from contract.lineage import champion_alias, lineage, mismatch, source_identity
from models.serving.scorer import ModelMismatch, check_lineage

MAP = {"contact_id": "CallID", "customer_id": "Caller", "started_at": {"parts": ["Date", "Time"], "sep": " "}}
EXTRA = {"impact": {"column": "Impact", "kind": "number", "availability": "arrival"}}
LABEL = {"window_days": 7, "match": "reason_family", "source": "repeat tracking"}


def test_a_source_is_its_mapping_not_its_files():
    a = source_identity("files", MAP, EXTRA, None)
    assert a == source_identity("files", dict(reversed(list(MAP.items()))), EXTRA, None)  # order does not count
    others = [source_identity("synthetic", MAP, EXTRA, None), source_identity("files", {**MAP, "customer_id": "Acct"}, EXTRA, None),
              source_identity("files", MAP, {}, None),
              source_identity("files", MAP, EXTRA, {"column": "Reopened", "kind": "count", "resolved_when": "zero"})]
    assert len({a["fingerprint"], *(o["fingerprint"] for o in others)}) == 5


def test_label_rules_are_part_of_the_lineage():
    source = source_identity("files", MAP, EXTRA, None)
    one, same = lineage(source, LABEL), lineage(dict(source), dict(LABEL))
    other = lineage(source, {**LABEL, "window_days": 14})
    assert one == same and one["fingerprint"] != other["fingerprint"] and one["id"] == one["fingerprint"][:12]
    assert champion_alias(one["id"]) == f"champion-{one['id']}" and champion_alias(None) == "champion"


def test_mismatch_says_which_source_and_what_is_missing():
    mine, synthetic = lineage(source_identity("files", MAP, EXTRA, None), LABEL), lineage(
        source_identity("synthetic", {}, {}, None), LABEL)
    assert mismatch(mine, mine) is None
    assert "trained on synthetic source" in mismatch(synthetic, mine) and "files source" in mismatch(synthetic, mine)
    assert "records no data source" in mismatch(None, mine)
    assert "run `dvc repro featurize`" in mismatch(mine, None)


def test_a_model_of_another_lineage_is_refused_unless_asked():
    mine, synthetic = lineage(source_identity("files", MAP, EXTRA, None), LABEL), lineage(
        source_identity("synthetic", {}, {}, None), LABEL)
    model = SimpleNamespace(spec={"lineage": synthetic}, source="models:/fcr-classifier/1")
    with pytest.raises(ModelMismatch, match="--any-source"):
        check_lineage(model, mine)
    assert "synthetic source" in check_lineage(model, mine, any_source=True)
    assert check_lineage(SimpleNamespace(spec={"lineage": mine}, source="models_out"), mine) is None
