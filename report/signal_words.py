"""The user's outcome signal described as what it is, for the section that sets it against repeat tracking.

In: which column the report compares (`survey_resolved`: a post-contact survey answer; `resolution_signal`:
the user's own flag or count, ingest.files.outcome_signal) and, for the latter, contract.json's
`outcome_signal` (the export's column, its kind and which value means resolved). Out: `SignalWords`, the
phrases the report uses: survey words ("customers said resolved") only for a survey; a reopen count or an
escalation flag is named by its column ("“ReopenCount” above 0") and never said to be what customers told.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SignalWords:
    title: str
    what: str  # the measurement, as the first of "two measurements of the same thing"
    resolved: str  # contacts the signal counts as resolved
    unresolved: str  # contacts the signal counts as not resolved
    resolved_but_came_back: str  # why both can be true, in a few words
    unresolved_no_repeat: str
    is_survey: bool


SURVEY = SignalWords(
    title="What customers say against what they do",
    what="what customers answered in the post-contact survey",
    resolved="contacts the customer said were resolved",
    unresolved="contacts the customer said were not resolved",
    resolved_but_came_back="the answer reflects how the contact felt, not whether the problem was fixed, or the fix "
    "did not hold",
    unresolved_no_repeat="they may have given up, solved it themselves, or gone elsewhere",
    is_survey=True,
)


def signal_words(column: str, signal: dict | None) -> SignalWords:
    """The words for the compared column; `signal`: contract.json `outcome_signal` (None: not recorded)."""
    if column == "survey_resolved":
        return SURVEY
    if not signal or not signal.get("source_column"):
        name = "the resolution flag from your system"
        yes, no = "contacts your system marked resolved", "contacts your system marked not resolved"
    else:
        col = f"\u201c{signal['source_column']}\u201d"
        if signal.get("kind") == "count":
            name = f"the count {col} from your system"
            zero, positive = f"contacts with {col} at 0", f"contacts with {col} above 0"
            yes, no = (zero, positive) if signal.get("resolved_when") == "zero" else (positive, zero)
        else:
            name = f"the flag {col} from your system"
            on, off = f"contacts with {col} set", f"contacts with {col} not set"
            yes, no = (on, off) if signal.get("resolved_when") is True else (off, on)
    return SignalWords(
        title=f"Your system's record against whether customers came back ({name.removeprefix('the ')})",
        what=name,
        resolved=yes,
        unresolved=no,
        resolved_but_came_back="your system counted them resolved, yet the customer needed another contact (the "
        "record was set too early, or the fix did not hold)",
        unresolved_no_repeat="your system counted them not resolved, yet the customer did not get in touch again "
        "(the rest may have been handled without a new contact, or the customer gave up)",
        is_survey=False,
    )
