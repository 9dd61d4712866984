"""The references the stage benchmarks measure a stage against, written once: DuckDB queries doing a
stage's work in SQL, and the bare LightGBM fit. Each reads the files the stage read and writes Parquet
as the stage does; the caller times it (in a fresh process: bench/_common.py `run_child`). DuckDB runs
on 2 threads within the stages' own memory bar (8 GB), spilling to disk beside its output beyond it.

- `duckdb_ingest`: the synthetic export (paths.raw_dir: Parquet and a reason-family CSV) read with
  read_parquet and given the ingest's validation in SQL: ids trimmed, anonymous customer ids made
  missing, timestamps with their offsets parsed to UTC, the contract's value rules (missing values,
  unknown channel, negative numbers, ended before started, no agent on a handled contact, rows in the
  future), exact duplicate rows and reused contact ids, each rejected row with its first reason and
  its raw values as JSON; the reason family and a missing team filled from the side tables, whose
  keys are checked too; the kept contacts in (customer, time, id) order. Both cores.
- `duckdb_lead`: each contact's next contact of the same customer and reason family (lead()).
- `duckdb_features`: the point-in-time features of features/rules.py in SQL window frames: the
  customer's contacts in the last 1/7/30/90 days, the previous contact (time, channel), same-issue
  contacts in the label window, the matured-label counts (started more than a label window before)
  of the customer, reason family, reason code, team, agent and agent x family with the rates shrunk
  toward their parent's, the agent's contacts that day, tenures from the side tables, hour, weekday.
- `bare_booster`: one `lightgbm.train` with the train section's LightGBM parameters and the number of
  trees the stage's early stopping chose, on the same training window: no validation rounds,
  calibration, baselines, other models, gate or tracking (the floor for the booster alone).
"""

from __future__ import annotations

import json
from pathlib import Path

DAY = 86_400


def parquet_source(path: str | Path) -> str:
    """A file, or a dataset folder (the stages write contacts and labels as folders of parts), for read_parquet."""
    path = Path(path)
    return str(path / "*.parquet") if path.is_dir() else str(path)


MEMORY_LIMIT = "8GB"  # the stages' own bar (issue 27): DuckDB spills beyond it, as a stage may not go beyond


def _connect(threads: int, spill: Path):
    """An in-memory DuckDB on `threads` threads within MEMORY_LIMIT, spilling into `spill` (not the cwd)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.execute(f"SET temp_directory = '{spill}'")
    con.execute("SET TimeZone = 'UTC'")  # (offsetless timestamps are UTC, as ingest's synthetic spec says)
    return con


def _parquet_rows(pattern: str | Path) -> str:
    """SQL of the rows of the Parquet files a path or glob names, with `file_row_number` counted over them
    all in their sorted order (as ingest numbers the rows of several files: a centre written in parts)."""
    import pyarrow.parquet as pq

    from contract.reading import expand

    files = expand(str(pattern))
    if len(files) == 1:
        return f"read_parquet('{files[0]}', file_row_number = true)"
    offsets = [0]
    for f in files[:-1]:
        offsets.append(offsets[-1] + pq.read_metadata(f).num_rows)
    return "(" + " UNION ALL ".join(
        f"SELECT * REPLACE (file_row_number + {o} AS file_row_number) FROM read_parquet('{f}', file_row_number = true)"
        for f, o in zip(files, offsets)) + ")"


def _side_table(con, src: Path, key: str, dst: Path) -> None:
    """A side table's key trimmed; rows with a missing or repeated key left out (ingest quarantines them)."""
    con.execute(f"""
        COPY (SELECT * EXCLUDE (file_row_number)
              FROM (SELECT * REPLACE (nullif(trim({key}), '') AS {key})
                    FROM {_parquet_rows(src)})
              WHERE {key} IS NOT NULL
              QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY file_row_number) = 1)
        TO '{dst}' (FORMAT parquet)""")


def duckdb_ingest(raw_dir: str | Path, out_dir: str | Path, threads: int = 2) -> dict:
    """The ingest of the synthetic export in `raw_dir` in SQL, with the rules of its `ingest.files` block
    (contract/ingest.py `synthetic_files`; see the module docstring); returns the row accounting."""
    from contract.ingest import synthetic_files

    files, out = synthetic_files(raw_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    con = _connect(threads, out / "duckdb.tmp")
    con.execute(f"CREATE VIEW raw AS SELECT * FROM {_parquet_rows(files.contacts)}")
    for name, key in (("customers", "customer_id"), ("agents", "agent_id")):
        _side_table(con, getattr(files, name), key, out / f"{name}.parquet")
    _parsed_and_checked(con, files)
    _write_ingested(con, files, out)
    by_reason = dict(con.execute("SELECT coalesce(reason, 'kept'), count(*) FROM checked GROUP BY ALL").fetchall())
    unknown = con.execute(f"""
        SELECT count(*) FILTER (WHERE customer_id IS NOT NULL AND customer_id NOT IN
                                (SELECT customer_id FROM read_parquet('{out / 'customers.parquet'}'))),
               count(*) FILTER (WHERE agent_id IS NOT NULL AND agent_id NOT IN
                                (SELECT agent_id FROM read_parquet('{out / 'agents.parquet'}')))
        FROM read_parquet('{out / 'contacts.parquet'}')""").fetchone()
    kept = by_reason.pop("kept", 0)
    return {"rows_read": kept + sum(by_reason.values()), "rows_kept": kept, "quarantined_by_reason": by_reason,
            "unknown_customers": unknown[0], "unknown_agents": unknown[1]}


def _parsed_and_checked(con, files) -> None:
    """Tables `parsed` (the export's columns trimmed and typed) and `checked` (each row's quarantine reason,
    NULL when kept), the stage's rules in its order."""
    from contract.vocabulary import CHANNELS

    channels = ", ".join(f"'{c}'" for c in CHANNELS)
    anonymous = ", ".join(f"'{c}'" for c in files.anonymous_customer_ids)
    text = ("contact_id", "reason_code", "agent_id", "team")
    con.execute(f"""
        CREATE TEMP TABLE parsed AS
        SELECT file_row_number AS source_row, {', '.join(f"nullif(trim({c}), '') AS {c}" for c in text)},
               CASE WHEN trim(customer_id) IN ({anonymous}) THEN NULL ELSE trim(customer_id) END
                   AS customer_id,
               started_at AS started_text, try_cast(trim(started_at) AS TIMESTAMPTZ) AS started_at,
               ended_at AS ended_text, try_cast(trim(ended_at) AS TIMESTAMPTZ) AS ended_at,
               lower(nullif(trim(channel), '')) AS channel, coalesce(lower(nullif(trim(disposition), '')), 'handled')
                   AS disposition,
               wait_s, handle_s, transfers, survey_resolved
        FROM raw""")
    con.execute(f"""
        CREATE TEMP TABLE checked AS
        WITH rules AS (
            SELECT *, CASE
                WHEN started_at IS NULL AND trim(started_text) <> '' THEN 'started_at: unparseable timestamp'
                WHEN ended_at IS NULL AND trim(ended_text) <> '' THEN 'ended_at: unparseable timestamp'
                WHEN started_at > now() + INTERVAL {int(files.future_tolerance_hours)} HOUR
                    THEN 'started_at: in the future'
                WHEN isinf(wait_s) THEN 'wait_s: not a finite number'
                WHEN isinf(handle_s) THEN 'handle_s: not a finite number'
                WHEN contact_id IS NULL THEN 'contact_id: missing value'
                WHEN started_at IS NULL THEN 'started_at: missing value'
                WHEN channel IS NULL THEN 'channel: missing value'
                WHEN channel NOT IN ({channels}) THEN 'channel: unknown value'
                WHEN reason_code IS NULL THEN 'reason_code: missing value'
                WHEN wait_s < 0 THEN 'wait_s: negative value'
                WHEN handle_s < 0 THEN 'handle_s: negative value'
                WHEN transfers < 0 THEN 'transfers: negative value'
                WHEN ended_at < started_at THEN 'ended_at: ended_at before started_at'
                WHEN agent_id IS NULL AND channel <> 'self_service' AND disposition <> 'abandoned'
                    THEN 'agent_id: missing agent_id on a handled contact'
                END AS reason
            FROM parsed),
        copies AS (  -- among the rows still in play: the same row exported twice, then an id reused
            SELECT * REPLACE (CASE WHEN reason IS NULL AND row_number() OVER (
                PARTITION BY reason, contact_id, customer_id, started_text, ended_text, channel, reason_code,
                             agent_id, team, wait_s, handle_s, transfers, disposition, survey_resolved
                ORDER BY source_row) > 1 THEN 'contact_id: duplicate row' ELSE reason END AS reason)
            FROM rules)
        SELECT * REPLACE (CASE WHEN reason IS NULL AND row_number() OVER (
            PARTITION BY reason, contact_id ORDER BY source_row) > 1
            THEN 'contact_id: duplicate id with different content' ELSE reason END AS reason)
        FROM copies""")


def _write_ingested(con, files, out: Path) -> None:
    """The kept contacts in the stored order (reason family and team filled) and the quarantine, as Parquet."""
    con.execute(f"""
        COPY (SELECT c.contact_id, c.customer_id, c.started_at, c.channel, c.reason_code, c.agent_id, c.ended_at,
                     coalesce(c.team, a.team) AS team, c.wait_s, c.handle_s, c.transfers, c.disposition,
                     c.survey_resolved, coalesce(f.reason_family, c.reason_code) AS reason_family, c.source_row
              FROM checked c
              LEFT JOIN read_csv('{files.reason_family_file}', header = true, all_varchar = true) f
                  USING (reason_code)
              LEFT JOIN read_parquet('{out / 'agents.parquet'}') a USING (agent_id)
              WHERE c.reason IS NULL
              ORDER BY c.customer_id NULLS LAST, c.started_at, c.contact_id)
        TO '{out / 'contacts.parquet'}' (FORMAT parquet)""")
    con.execute(f"""
        COPY (SELECT 'contacts' AS source, c.source_row, c.reason, to_json(r) AS row
              FROM checked c JOIN raw r ON r.file_row_number = c.source_row
              WHERE c.reason IS NOT NULL ORDER BY c.source_row)
        TO '{out / 'quarantine.parquet'}' (FORMAT parquet)""")



def duckdb_lead(contacts: str | Path, dst: str | Path, threads: int = 2) -> None:
    """Each contact's next contact of the same customer and reason family, with lead(), written to Parquet."""
    _connect(threads, Path(dst).parent / "duckdb.tmp").execute(f"""
        COPY (SELECT contact_id,
                     lead(started_at) OVER (PARTITION BY customer_id, reason_family
                                            ORDER BY started_at, contact_id) AS next_started_at
              FROM read_parquet('{parquet_source(contacts)}'))
        TO '{dst}' (FORMAT parquet)""")


def duckdb_features(contacts: str | Path, labels: str | Path, customers: str | Path, agents: str | Path,
                    window_days: float, prior_strength: float, dst: str | Path, threads: int = 2) -> None:
    """The point-in-time features of features/rules.py in SQL (see the module docstring), with the label
    columns training needs, written to Parquet."""
    from features.rules import NEUTRAL_PRIOR
    from features.spec import PROFILE, WINDOWS_DAYS

    w, s = int(round(window_days * DAY)), float(prior_strength)

    def before(partition: str, lookback: int | None = None) -> str:
        """Earlier rows of the partition (strictly earlier second), in the last `lookback` seconds."""
        start = "UNBOUNDED" if lookback is None else str(lookback)
        return f"OVER (PARTITION BY {partition} ORDER BY t RANGE BETWEEN {start} PRECEDING AND 1 PRECEDING)"

    def matured(name: str, partition: str) -> str:
        """Repeats and labelled contacts of the partition that started more than a label window before."""
        frame = f"OVER ({partition} ORDER BY t RANGE BETWEEN UNBOUNDED PRECEDING AND {w + 1} PRECEDING)"
        return (f"coalesce(sum(rep) {frame}, 0) AS {name}_ev, coalesce(sum(lab) {frame}, 0) AS {name}_tr")

    def rate(name: str, prior: str, strength: float = s) -> str:
        return f"({name}_ev + {strength} * {prior}) / ({name}_tr + {strength})"

    agent_day = f"agent_id, t // {DAY}"
    counts = ",\n".join(f"count(*) {before('customer_id', d * DAY)} AS n{d}" for d in WINDOWS_DAYS)
    con = _connect(threads, Path(dst).parent / "duckdb.tmp")
    con.execute(f"""
        CREATE TEMP TABLE x AS
        SELECT c.*, epoch_us(c.started_at) // 1000000 AS t, l.status, l.repeated, l.is_first_contact, l.contact_seq,
               (l.status = 'labelled')::INT AS lab, (l.status = 'labelled' AND coalesce(l.repeated, false))::INT AS rep,
               {', '.join(f'cu.{p}' for p in PROFILE)}, epoch_us(cu.signup_date) // 1000000 AS signup,
               epoch_us(a.hired_at) // 1000000 AS hired, coalesce(c.team, a.team) AS team_filled
        FROM read_parquet('{parquet_source(contacts)}') c
        JOIN read_parquet('{parquet_source(labels)}') l USING (contact_id)
        LEFT JOIN read_parquet('{customers}') cu USING (customer_id)
        LEFT JOIN read_parquet('{agents}') a USING (agent_id)""")
    con.execute(f"""
        COPY (
        WITH h AS (
            SELECT *, {counts},
                   max(t) {before('customer_id')} AS prev_t,
                   last(channel) {before('customer_id')} AS prev_channel,
                   count(*) {before('customer_id, reason_family', w)} AS same_issue,
                   count(*) {before(agent_day)} AS agent_today,
                   {matured('g', '')}, {matured('cust', 'PARTITION BY customer_id')},
                   {matured('fam', 'PARTITION BY reason_family')}, {matured('code', 'PARTITION BY reason_code')},
                   {matured('team', 'PARTITION BY team_filled')}, {matured('agent', 'PARTITION BY agent_id')},
                   {matured('af', 'PARTITION BY agent_id, reason_family')}
            FROM x),
        r AS (
            SELECT *, {rate('g', str(NEUTRAL_PRIOR), 1.0)} AS g_rate FROM h),
        r2 AS (
            SELECT *, {rate('fam', 'g_rate')} AS fam_rate,
                   CASE WHEN team_filled IS NULL THEN g_rate ELSE {rate('team', 'g_rate')} END AS team_rate FROM r),
        r3 AS (
            SELECT *, {rate('agent', 'team_rate')} AS agent_rate FROM r2)
        SELECT contact_id, started_at, {', '.join(PROFILE)},
               ((t - signup) / {DAY})::FLOAT AS customer_tenure_days,
               {', '.join(f'CASE WHEN customer_id IS NOT NULL THEN n{d} END::FLOAT AS customer_contacts_{d}d'
                          for d in WINDOWS_DAYS)},
               CASE WHEN customer_id IS NOT NULL THEN (t - prev_t) / {DAY} END::FLOAT AS days_since_last_contact,
               CASE WHEN customer_id IS NOT NULL THEN coalesce(prev_channel, 'none') ELSE 'none' END
                   AS previous_channel,
               CASE WHEN customer_id IS NOT NULL AND prev_t IS NOT NULL THEN (prev_channel <> channel)::INT END::FLOAT
                   AS switched_channel,
               CASE WHEN customer_id IS NOT NULL THEN same_issue END::FLOAT AS same_issue_contacts_window,
               CASE WHEN customer_id IS NOT NULL THEN cust_tr END::FLOAT AS customer_past_labelled,
               CASE WHEN customer_id IS NOT NULL THEN cust_ev END::FLOAT AS customer_past_repeats,
               CASE WHEN customer_id IS NOT NULL THEN {rate('cust', 'g_rate')} END::FLOAT AS customer_repeat_rate,
               reason_code, reason_family, {rate('code', 'fam_rate')}::FLOAT AS reason_difficulty,
               channel, ((t % {DAY}) // 3600)::FLOAT AS hour, ((t // {DAY} + 3) % 7)::FLOAT AS weekday,
               wait_s::FLOAT AS wait_s, agent_id, team_filled AS team,
               CASE WHEN agent_id IS NOT NULL THEN (t - hired) / {DAY} END::FLOAT AS agent_tenure_days,
               CASE WHEN agent_id IS NOT NULL THEN agent_rate END::FLOAT AS agent_repeat_rate,
               CASE WHEN agent_id IS NOT NULL THEN {rate('af', 'agent_rate')} END::FLOAT AS agent_family_repeat_rate,
               CASE WHEN agent_id IS NOT NULL THEN agent_today END::FLOAT AS agent_contacts_today,
               handle_s::FLOAT AS handle_s, transfers::FLOAT AS transfers, disposition,
               status, repeated, is_first_contact, contact_seq
        FROM r3)
        TO '{dst}' (FORMAT parquet)""")


def bare_booster(features: str | Path, feature_spec: str | Path, model_dir: str | Path, train_cfg) -> dict:
    """One `lightgbm.train` on the training window of the stage's split, with the train section's LightGBM
    parameters and the number of trees in the stage's model card (see the module docstring)."""
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    from models.scoring import model_frame
    from models.training.classifier import booster_params
    from models.training.split import time_split

    trees = json.loads((Path(model_dir) / "model_card.json").read_text())["test_metrics"]["trees"]
    table = pd.read_parquet(features)
    spec = json.loads(Path(feature_spec).read_text())
    split = time_split(table["started_at"], table["status"], train_cfg.split.valid_share, train_cfg.split.test_share)
    X = model_frame(table.iloc[split.train], spec)
    y = table["repeated"].iloc[split.train].fillna(False).to_numpy(dtype=np.int8)
    lgb.train(booster_params(train_cfg.lightgbm, train_cfg.seed), lgb.Dataset(X, label=y), num_boost_round=trees)
    return {"train_rows": len(y), "trees": trees}
