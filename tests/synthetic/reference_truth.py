"""The agreement of the labels with the synthetic generator's truth as pandas frames, the way
synthetic/truth.py computed it before it worked on arrays: a slow, plain reading of the same rules,
kept to check the fast one against (tests/synthetic/test_truth.py)."""

from __future__ import annotations

import pandas as pd


def reference_truth_agreement(labelled: pd.DataFrame, truth: pd.DataFrame, window_days: float) -> dict:
    cols = ["contact_id", "issue_id", "next_issue_contact_id", "next_issue_contact_at"]
    df = labelled.merge(truth[cols], on="contact_id", how="left")
    window = pd.Timedelta(days=window_days)
    # A merged group (e.g. abandoned in the queue, got through on the retry a minute later) is one
    # contact to the labeller: its outcome is that of the group's last generated attempt.
    members = df[df["merged_into"].notna() & df["issue_id"].notna()].sort_values("started_at")
    last = members.groupby("merged_into")["next_issue_contact_at"].last()
    has = df["contact_id"].isin(last.index)
    if has.any():  # (the one change: with no merged group, e.g. merge_gap_s 0, assigning no values raised)
        df.loc[has, "next_issue_contact_at"] = df.loc[has, "contact_id"].map(last).to_numpy()
    # Contacts the labeller links: known customer, not merged away.
    linkable = df["customer_id"].notna() & (df["excluded_reason"].isin(["", "abandoned"]))
    part = df[linkable].sort_values(["customer_id", "reason_family", "started_at", "contact_id"])
    same_part = (part["customer_id"].eq(part["customer_id"].shift(-1))
                 & part["reason_family"].eq(part["reason_family"].shift(-1)))
    # Next contact of the same customer and family that belongs to another issue: the first row of
    # the next run of equal issue ids.
    run = (part["issue_id"].ne(part["issue_id"].shift()) | ~same_part.shift(fill_value=False)).cumsum()
    run_start_time = part.groupby(run)["started_at"].transform("first")
    run_part = part["customer_id"].astype("str") + "\x00" + part["reason_family"].astype("str")
    next_run_time = pd.Series(run_start_time.groupby(run).first().shift(-1).to_numpy(), index=run.unique())
    next_run_part = pd.Series(run_part.groupby(run).first().shift(-1).to_numpy(), index=run.unique())
    nrt = run.map(next_run_time)
    same = run.map(next_run_part) == run_part
    confounded = same & (nrt - part["started_at"] <= window)
    df["confounded"] = False
    df.loc[confounded.index, "confounded"] = confounded.to_numpy()
    # A repeat the labeller cannot see (made anonymously, or quarantined at ingest) also confounds.
    invisible = df["next_issue_contact_id"].notna() & ~df["next_issue_contact_id"].isin(df.loc[linkable, "contact_id"])
    df.loc[invisible, "confounded"] = True
    # Merges across issues (an unrelated contact within seconds of another) also confound.
    rep_issue = df["merged_into"].map(df.set_index("contact_id")["issue_id"])
    cross = df["merged_into"].notna() & df["issue_id"].notna() & (rep_issue != df["issue_id"])
    touched = set(df.loc[cross, "contact_id"]) | set(df.loc[cross, "merged_into"])
    df.loc[df["contact_id"].isin(touched) | df["next_issue_contact_id"].isin(touched), "confounded"] = True

    judged = df[(df["status"] == "labelled") & df["issue_id"].notna() & df["tracking_repeated"].notna()]
    truth_followed = judged["next_issue_contact_at"].notna() & (
        judged["next_issue_contact_at"] - judged["started_at"] <= window)
    agree = judged["tracking_repeated"].astype(bool).to_numpy() == truth_followed.to_numpy()
    clean = ~judged["confounded"].to_numpy()
    return {
        "contacts_compared": int(len(judged)),
        "agreement": float(agree.mean()) if len(judged) else None,
        "contacts_unconfounded": int(clean.sum()),
        "agreement_unconfounded": float(agree[clean].mean()) if clean.any() else None,
        "disagreements_unconfounded": int((~agree[clean]).sum()),
        "false_repeats_confounded": int((~agree & ~clean).sum()),
        "truth_repeat_rate": float(truth_followed.mean()) if len(judged) else None,
        "label_repeat_rate": float(judged["tracking_repeated"].astype(bool).mean()) if len(judged) else None,
        "_disagreeing_ids": judged.loc[~agree & clean, "contact_id"].head(20).tolist(),
    }
