"""Exports in the shapes real systems write, where the report's headline and the merges used to mislead
(issue 25): a ticket log with open and close times (tickets open for days, a second ticket while the
first is open), a log with a sparse tail of stray months, and a local-time telephony log with contacts
near midnight at a month's end. Each is a file plus its `ingest` block, run by params alone."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthetic.reasons import REASON_FAMILY
from tests.shapes import centre

BASE_FILES = {
    "customers": None, "agents": None, "reason_family_file": None,
    "read": {"delimiter": None, "encoding": None, "quote": None, "decimal": None, "member": None},
    "dst_ambiguous": "earliest", "dst_nonexistent": "shift_forward", "future_tolerance_hours": 24,
    "value_maps": {}, "channel_map": {}, "reason_families": {}, "missing_values": ["", "?"],
    "anonymous_customer_ids": [], "filters": [], "events": None, "extra_columns": {}, "outcome_signal": None,
}
ABSENT = {"team": None, "wait_s": None, "handle_s": None, "transfers": None, "disposition": None,
          "survey_resolved": None}


def ticket_log(n: int = 3000) -> tuple[bytes, dict]:
    """A help-desk ticket log: one row per ticket, Opened and Closed local times (Europe/London); tickets
    stay open for hours to days, so a customer's next ticket is often opened while the first is open."""
    df = centre(n, seed=11)
    df = df[df["disposition"] != "abandoned"].reset_index(drop=True)
    rng = np.random.default_rng(5)
    open_for = pd.to_timedelta(rng.exponential(2.0, len(df)) * 86_400 + 600, unit="s")
    local = df["started_at"].dt.tz_convert("Europe/London")
    out = pd.DataFrame({
        "Ticket": "T-" + df["contact_id"].str.replace(r"\D", "", regex=True),
        "Opened": local.dt.strftime("%Y-%m-%d %H:%M:%S"),
        "Closed": (local + open_for).dt.strftime("%Y-%m-%d %H:%M:%S"),
        "Requester": df["customer_id"].str.lower(), "Category": df["reason_code"].map(REASON_FAMILY), "Subcategory": df["reason_code"],
        "Channel": df["channel"], "Assignee": df["agent_id"].fillna("?")})
    files = BASE_FILES | {
        "contacts": "inputs/tickets.csv", "timestamp_format": "%Y-%m-%d %H:%M:%S", "timezone": "Europe/London",
        "column_map": {"contact_id": "Ticket", "customer_id": "Requester", "started_at": "Opened",
                       "ended_at": "Closed", "channel": "Channel", "reason_code": "Subcategory",
                       "reason_family": "Category", "agent_id": "Assignee"} | ABSENT}
    return out.to_csv(index=False).encode(), files


def sparse_tail(n: int = 3000, strays: int = 12) -> tuple[bytes, dict]:
    """An incident log whose contacts lie in four months, then a tail of a few stray incidents in months a
    year later (a test system, a late import): the headline must not be a stray month."""
    df = centre(n, seed=12)
    rng = np.random.default_rng(6)
    tail = df.sample(strays, random_state=3).copy()
    tail["started_at"] = df["started_at"].max() + pd.to_timedelta(
        150 + rng.integers(0, 100, strays) * 1.0, unit="D") + pd.to_timedelta(rng.integers(0, 86_400, strays), unit="s")
    tail["contact_id"] = [f"STRAY{i}" for i in range(strays)]
    df = pd.concat([df, tail], ignore_index=True)
    out = pd.DataFrame({
        "incident": df["contact_id"], "caller": df["customer_id"],
        "opened_at": df["started_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"), "category": df["reason_code"],
        "contact_type": df["channel"], "assigned_to": df["agent_id"].fillna("")})
    files = BASE_FILES | {
        "contacts": "inputs/incidents.csv", "timestamp_format": None, "timezone": "UTC",
        "column_map": {"contact_id": "incident", "customer_id": "caller", "started_at": "opened_at",
                       "channel": "contact_type", "reason_code": "category", "agent_id": "assigned_to",
                       "ended_at": None} | ABSENT}
    return out.to_csv(index=False).encode(), files


def midnight_calls(n: int = 3000, zone: str = "Pacific/Auckland") -> tuple[bytes, dict]:
    """A telephony log in local time far from UTC (Auckland, UTC+13 in summer): a share of the calls fall
    within minutes of local midnight on a month's last day, so UTC and local months disagree about them."""
    df = centre(n, seed=13)
    rng = np.random.default_rng(7)
    local = df["started_at"].dt.tz_convert(zone).dt.tz_localize(None)
    pick = rng.random(len(df)) < 0.15
    month_end = (local.dt.to_period("M") + 1).dt.start_time  # local midnight starting the next month
    near = month_end + pd.to_timedelta(rng.integers(-30, 30, len(df)), unit="m")
    local = local.where(~pick, near).clip(upper=local.max())
    out = pd.DataFrame({
        "CallID": df["contact_id"], "CallerNo": df["customer_id"],
        "CallDate": local.dt.strftime("%d/%m/%Y"), "CallTime": local.dt.strftime("%H:%M:%S"),
        "WrapCode": df["reason_code"], "Agent": df["agent_id"].fillna(""),
        "Outcome": np.where(df["disposition"] == "abandoned", "abandoned", "handled")})
    files = BASE_FILES | {
        "contacts": "inputs/calls.csv", "timestamp_format": "%d/%m/%Y %H:%M:%S", "timezone": zone,
        "column_map": {"contact_id": "CallID", "customer_id": "CallerNo",
                       "started_at": {"parts": ["CallDate", "CallTime"], "sep": " "}, "channel": {"constant": "phone"},
                       "reason_code": "WrapCode", "agent_id": "Agent", "ended_at": None} | ABSENT
                      | {"disposition": "Outcome"}}
    return out.to_csv(index=False).encode(), files


def _crm(df: pd.DataFrame) -> pd.DataFrame:
    """A CRM interaction export (ISO times with offsets) of the centre's contacts."""
    return pd.DataFrame({"InteractionId": df["contact_id"], "Account": df["customer_id"],
                         "Created": df["started_at"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                         "Medium": df["channel"],
                         "Topic": df["reason_code"], "Owner": df["agent_id"].fillna("")})


CRM_MAP = {"contact_id": "InteractionId", "customer_id": "Account", "started_at": "Created", "channel": "Medium",
           "reason_code": "Topic", "agent_id": "Owner", "ended_at": None} | ABSENT


def no_agents(n: int = 3000) -> tuple[bytes, dict]:
    """A CRM export that names no agent at all (queue-level system)."""
    out = _crm(centre(n, seed=14)).drop(columns=["Owner"])
    files = BASE_FILES | {"contacts": "inputs/crm.csv", "timestamp_format": None, "timezone": "UTC",
                          "column_map": CRM_MAP | {"agent_id": None}}
    return out.to_csv(index=False).encode(), files


def no_reason_families(n: int = 3000) -> tuple[bytes, dict]:
    """A CRM export with numeric topic codes and no families (each code its own family)."""
    df = centre(n, seed=15)
    codes = {c: str(200 + i) for i, c in enumerate(sorted(df["reason_code"].unique()))}
    out = _crm(df.assign(reason_code=df["reason_code"].map(codes)))
    files = BASE_FILES | {"contacts": "inputs/crm.csv", "timestamp_format": None, "timezone": "UTC",
                          "column_map": CRM_MAP}
    return out.to_csv(index=False).encode(), files


def reopen_count(n: int = 3000) -> tuple[bytes, dict]:
    """A ticket system's export with a reopen count per ticket (0: resolved for good)."""
    df = centre(n, seed=16)
    rng = np.random.default_rng(8)
    bad = df["survey_resolved"].astype("str").str.lower().eq("false").to_numpy()
    out = _crm(df).assign(ReopenCount=np.where(bad, rng.integers(1, 4, len(df)), 0))
    files = BASE_FILES | {"contacts": "inputs/crm.csv", "timestamp_format": None, "timezone": "UTC",
                          "column_map": CRM_MAP,
                          "outcome_signal": {"column": "ReopenCount", "kind": "count", "resolved_when": "zero"}}
    return out.to_csv(index=False).encode(), files


def escalation_flag(n: int = 3000) -> tuple[bytes, dict]:
    """A bank's contact log with an escalation flag (Y: escalated, i.e. not resolved at the first contact)."""
    df = centre(n, seed=17)
    bad = df["survey_resolved"].astype("str").str.lower().eq("false").to_numpy()
    out = _crm(df).assign(Escalated=np.where(bad, "Y", "N"))
    files = BASE_FILES | {"contacts": "inputs/crm.csv", "timestamp_format": None, "timezone": "UTC",
                          "column_map": CRM_MAP,
                          "outcome_signal": {"column": "Escalated", "kind": "flag", "resolved_when": False}}
    return out.to_csv(index=False).encode(), files


EXPORTS = {"tickets_open_for_days": ticket_log, "sparse_tail": sparse_tail, "local_midnight": midnight_calls,
           "no_agents": no_agents, "no_reason_families": no_reason_families, "reopen_count": reopen_count,
           "escalation_flag": escalation_flag}
