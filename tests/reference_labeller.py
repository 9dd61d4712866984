"""Brute-force reference labeller: the rules of labelling/labeller.py written as plain loops.

Quadratic and slow on purpose: every decision is a direct reading of the rule, so that the fast
labeller can be checked against it on many small generated contact logs.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from labelling.config import LabelConfig


def reference_labels(contacts: pd.DataFrame, cfg: LabelConfig) -> dict[str, dict]:
    rows = contacts.to_dict(orient="records")
    rows.sort(key=lambda r: (r["started_at"], r["contact_id"]))
    window = timedelta(days=cfg.window_days)
    gap = timedelta(seconds=cfg.merge_gap_s)
    as_of = pd.Timestamp(cfg.as_of, tz="UTC") if cfg.as_of else max(r["started_at"] for r in rows)

    def anonymous(r):
        return r["customer_id"] is None or pd.isna(r["customer_id"])

    def end(r):
        e = r.get("ended_at")
        return r["started_at"] if e is None or pd.isna(e) else max(e, r["started_at"])

    # Merge: only pieces of one contact. Into the previous contact's group when both start within the
    # gap; else, when every earlier contact of the customer has ended by now, into the group of the one
    # that ended last if this one starts within the gap after that end. One opened while an earlier
    # contact is still open (and not within the gap of the previous start) stays a contact of its own.
    rep = {}
    for i, r in enumerate(rows):
        rep[r["contact_id"]] = r["contact_id"]
        if anonymous(r):
            continue
        prev = [p for p in rows[:i] if not anonymous(p) and p["customer_id"] == r["customer_id"]]
        if not prev:
            continue
        if r["started_at"] - prev[-1]["started_at"] <= gap:
            rep[r["contact_id"]] = rep[prev[-1]["contact_id"]]
            continue
        last_end = max(end(p) for p in prev)
        if last_end <= r["started_at"] <= last_end + gap:
            ended_last = [p for p in prev if end(p) == last_end][-1]
            rep[r["contact_id"]] = rep[ended_last["contact_id"]]
    members = {}
    for r in rows:
        members.setdefault(rep[r["contact_id"]], []).append(r)
    reps = [r for r in rows if rep[r["contact_id"]] == r["contact_id"] and not anonymous(r)]

    def is_abandoned(r):
        return all(m["disposition"] == "abandoned" for m in members[r["contact_id"]])

    def survey(r):
        answers = [m["survey_resolved"] for m in members[r["contact_id"]] if not pd.isna(m["survey_resolved"])]
        return answers[-1] if answers else None

    def signal(r):
        answers = [m["resolution_signal"] for m in members[r["contact_id"]]
                   if "resolution_signal" in m and not pd.isna(m["resolution_signal"])]
        return bool(answers[-1]) if answers else None

    def key(r):
        return {"same_reason": r["reason_code"], "reason_family": r["reason_family"], "any": 0}[cfg.match]

    handled = [r for r in reps if not is_abandoned(r)]
    cands = [r for r in reps if not is_abandoned(r) or cfg.abandoned_counts_as_repeat]

    def later(r):
        return [j for j in cands if j["customer_id"] == r["customer_id"] and key(j) == key(r)
                and (j["started_at"], j["contact_id"]) > (r["started_at"], r["contact_id"])]

    out = {}
    episode, seq = {}, {}
    for p in cands:  # in time order
        before = [h for h in handled if h["customer_id"] == p["customer_id"] and key(h) == key(p)
                  and (h["started_at"], h["contact_id"]) < (p["started_at"], p["contact_id"])]
        if before and p["started_at"] - before[-1]["started_at"] <= window:
            episode[p["contact_id"]] = episode[before[-1]["contact_id"]]
        else:
            episode[p["contact_id"]] = p["contact_id"]
        seq[p["contact_id"]] = sum(1 for q in cands if episode.get(q["contact_id"]) == episode[p["contact_id"]])

    for r in rows:
        cid = r["contact_id"]
        o = {"episode_id": cid, "contact_seq": 1, "is_first_contact": False, "repeated": None,
             "tracking_repeated": None, "merged_into": None, "excluded_reason": ""}
        if anonymous(r):
            o.update(status="excluded", excluded_reason="anonymous_customer")
        elif rep[cid] != cid:
            o.update(status="excluded", excluded_reason="merged", merged_into=rep[cid],
                     episode_id=episode.get(rep[cid], rep[cid]), contact_seq=seq.get(rep[cid], 1))
        elif is_abandoned(r):
            o.update(status="excluded", excluded_reason="abandoned",
                     episode_id=episode.get(cid, cid), contact_seq=seq.get(cid, 1))
        elif getattr(cfg, "source", "repeats") == "column":
            nxt = later(r)
            tracking = bool(nxt) and nxt[0]["started_at"] - r["started_at"] <= window
            g = signal(r)
            if g is None:
                o.update(status="excluded", excluded_reason="no_resolution_signal", tracking_repeated=tracking,
                         episode_id=episode[cid], contact_seq=seq[cid], is_first_contact=seq[cid] == 1)
            else:
                s = survey(r)
                o.update(status="labelled", tracking_repeated=tracking, episode_id=episode[cid],
                         contact_seq=seq[cid], is_first_contact=seq[cid] == 1,
                         repeated=(not g) or (cfg.survey_override and s is False))
        else:
            nxt = later(r)
            tracking = bool(nxt) and nxt[0]["started_at"] - r["started_at"] <= window
            s = survey(r)
            override = cfg.survey_override and s is False and not tracking
            if r["started_at"] + window > as_of:
                status = "censored"
            else:
                status = "labelled"
            o.update(status=status, tracking_repeated=tracking, episode_id=episode[cid],
                     contact_seq=seq[cid], is_first_contact=seq[cid] == 1,
                     repeated=(tracking or override) if status == "labelled" else None)
        out[cid] = o
    return out
