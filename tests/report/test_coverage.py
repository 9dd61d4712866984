"""Coverage of the FCR figure: every row of the export in one line, adding up; the rules in words."""

from __future__ import annotations

from report.coverage import coming_back_sentence, coverage_sentence, coverage_table

INGEST = {"contacts": {"rows_read": 1000, "rows_kept": 900, "rows_filtered": 60, "rows_quarantined": 40,
                       "filtered_by_rule": {"test_queue": 50, "events: merged into its contact's row": 10},
                       "quarantined_by_reason": {"contact_id: duplicate row": 30, "started_at: unparseable timestamp": 10}}}
LABEL = {"rules": {"window_days": 7.0, "match": "reason_family", "merge_gap_s": 120.0,
                   "abandoned_counts_as_repeat": True, "survey_override": False, "source": "repeats"},
         "counts": {"labelled": 600, "censored": 100, "excluded": 200, "rows_in": 900,
                    "excluded_by_reason": {"anonymous_customer": 120, "abandoned": 50, "merged": 30}},
         "fcr": {"first_contacts": 450}}


def test_every_row_of_the_export_is_in_one_line():
    t, total = coverage_table(INGEST, LABEL)
    assert total == 1000 and t["rows"].sum() == 1000
    assert t["rows"].iloc[0] == 450 and t["share"].iloc[0] == 0.45
    words = " ".join(t["what"])
    assert "unknown customer" in words and "test queue" in words and "folded into its row" in words
    assert "duplicate row" in words and "_" not in words


def test_sentences_say_the_share_and_the_rules():
    text = coverage_sentence(INGEST, LABEL)
    assert text.startswith("The FCR figure covers 450 of the 1,000 rows of the export (45.0%)")
    assert "120 (12.0%) unknown customer" in text and "30 (3.0%) merged into another contact" in text
    # the quarantine's reasons are one line of the sentence (the table keeps them apart)
    assert text.count("quarantined as unusable") == 1 and "40 (4.0%) quarantined as unusable" in text
    back = coming_back_sentence(LABEL)
    assert "same kind of issue" in back and "within 7 days" in back and "abandoned in the queue included" in back
    assert "survey" not in back and "opened while another is still open" in back
    # without the ingest metrics: the contacts kept, still adding up
    t, total = coverage_table(None, LABEL)
    assert total == 900 and t["rows"].sum() == 900
