"""The models fitted beside the routing model: which features each one sees."""

from __future__ import annotations

from models.training.auxiliary import after_contact_spec, casemix_spec


def test_after_contact_spec_adds_only_features_known_after_the_contact():
    spec = {"model_features": ["channel", "wait_s"], "features": [
        {"name": "channel", "availability": "arrival"}, {"name": "wait_s", "availability": "arrival"},
        {"name": "agent_id", "availability": "arrival", "in_model": False},
        {"name": "transfers", "availability": "after_contact"}, {"name": "handle_s", "availability": "after_contact"}]}
    diag = after_contact_spec(spec)
    assert diag["model_features"] == ["channel", "wait_s", "transfers", "handle_s"]
    assert spec["model_features"] == ["channel", "wait_s"]  # the routing spec is left alone



def test_casemix_model_leaves_out_who_handled_the_contact():
    spec = {"model_features": ["channel", "agent_repeat_rate", "team", "tier"], "features": [
        {"name": "channel", "family": "channel"}, {"name": "agent_repeat_rate", "family": "agent"},
        {"name": "team", "family": "agent"}, {"name": "tier", "family": "customer"}]}
    assert casemix_spec(spec)["model_features"] == ["channel", "tier"]
    assert spec["model_features"] == ["channel", "agent_repeat_rate", "team", "tier"]
