"""What the FCR figure covers: which share of the export is in it and why the rest is not, and what
counted as the customer coming back.

In: metrics/ingest.json (rows read, filtered by rule, quarantined by reason) and metrics/label.json (the
rules, counts by status and excluded reason, the first contacts in the FCR figure). Out: plain sentences
and the table behind them (`coverage_table`: every row of the export in exactly one line, adding up).
"""

from __future__ import annotations

import pandas as pd

MATCH_WORDS = {
    "same_reason": "a later contact with the same reason",
    "reason_family": "a later contact about the same kind of issue (the same reason family)",
    "any": "any later contact, whatever its reason",
}


def coverage_table(ingest: dict | None, label: dict) -> tuple[pd.DataFrame, int]:
    """(table, total): one line per reason a row of the export is in the FCR figure or not, with `rows`
    and `share` of the total, the rows read (the contacts kept when the ingest metrics are absent). The
    lines add up to the total."""
    counts, fcr = label.get("counts", {}), label.get("fcr", {})
    first = int(fcr.get("first_contacts") or 0)
    excluded = counts.get("excluded_by_reason", {})
    lines = [
        ("in the FCR figure: first contacts with a known outcome", first),
        ("the customer coming back (repeat contacts: they decide a first contact's outcome)",
         int(counts.get("labelled", 0)) - first),
        ("unknown customer (no customer id: cannot be followed)", int(excluded.get("anonymous_customer", 0))),
        ("abandoned before reaching anyone", int(excluded.get("abandoned", 0))),
        ("merged into another contact as a piece of it (a dropped call and the call back, a transfer)",
         int(excluded.get("merged", 0))),
        ("too recent: outcome not known yet (censored, the window was still open at the end of the data)",
         int(counts.get("censored", 0))),
        ("no resolution flag from your system", int(excluded.get("no_resolution_signal", 0))),
    ]
    c = (ingest or {}).get("contacts")
    if c:
        for rule, n in c.get("filtered_by_rule", {}).items():
            words = ("further event rows of a ticket, folded into its row" if rule.startswith("events:")
                     else f"filtered by the rule \u201c{rule.replace('_', ' ')}\u201d")
            lines.append((words, int(n)))
        quarantined: dict[str, int] = {}
        for reason, n in c.get("quarantined_by_reason", {}).items():  # "column: what was wrong"
            what = reason.split(":", 1)[-1].strip().replace("_", " ")
            quarantined[what] = quarantined.get(what, 0) + int(n)
        for what, n in quarantined.items():
            lines.append((f"quarantined as unusable ({what})", n))
        total = int(c["rows_read"])
    else:
        total = int(counts.get("rows_in", 0))
    t = pd.DataFrame(lines, columns=["what", "rows"])
    t = t[(t["rows"] > 0) | (t.index == 0)].reset_index(drop=True)
    return t.assign(share=t["rows"] / total if total else float("nan")), total


def coverage_sentence(ingest: dict | None, label: dict) -> str:
    """One line: the share of the export in the FCR figure and the main reasons for the rest."""
    t, total = coverage_table(ingest, label)
    if not total:
        return "The export holds no contacts: nothing is in the FCR figure."
    first = int(t["rows"].iloc[0])
    # one line per kind of reason (the table keeps every quarantine reason apart)
    rest = (t.iloc[1:].assign(what=lambda d: d["what"].str.split(" (", regex=False).str[0])
            .groupby("what", sort=False, as_index=False)[["rows", "share"]].sum()
            .sort_values("rows", ascending=False, kind="stable"))
    what = "rows of the export" if ingest and ingest.get("contacts") else "contacts kept from the export"
    text = (f"The FCR figure covers {first:,} of the {total:,} {what} ({first / total:.1%}): the first contacts "
            "whose outcome is known.")
    if len(rest):
        text += " The rest: " + "; ".join(f"{int(r.rows):,} ({r.share:.1%}) {r.what}"
                                          for r in rest.itertuples()) + "."
    return text


def coming_back_sentence(label: dict) -> str:
    """What counted as the customer coming back, from the label rules actually applied."""
    rules = label.get("rules", {})
    window = rules.get("window_days")
    if rules.get("source") == "column":
        return ("Resolved or not is what your system's resolution flag says for each contact; repeat tracking "
                f"({MATCH_WORDS.get(rules.get('match'), 'a later contact')} within {window:g} days) is shown beside it "
                "as a second measurement.")
    text = (f"A first contact counts as not resolved when the customer came back: "
            f"{MATCH_WORDS.get(rules.get('match'), 'a later contact')} within {window:g} days, on any channel")
    text += (", a contact abandoned in the queue included" if rules.get("abandoned_counts_as_repeat")
             else "; contacts abandoned in the queue do not count")
    text += (", or a survey answer saying it was not resolved." if rules.get("survey_override") else ".")
    gap = rules.get("merge_gap_s")
    if gap:
        text += (f" Pieces of one contact (the next starting within {gap:g} seconds after the previous ended, or "
                 "both starting that close) count as one contact; a contact opened while another is still open "
                 "counts as the customer coming back.")
    return text
