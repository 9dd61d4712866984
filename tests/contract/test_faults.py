"""Ingest faults real exports have, each with a clear outcome: an error naming the file, column,
rows and the params.yaml key to set, or a quarantine reason that is counted."""

from __future__ import annotations

import gzip
import zipfile

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from contract.ingest import ingest
from contract.mapping import ContractError
from contract.reading import ReadError, read_export, read_file, read_units
from contract.schema import SourceSpec, normalise_contacts, parse_times
from base.config import PARAMS_FILE
from base.errors import ParamsError
from contract.config import FilesConfig, OutcomeSignal, ReadConfig
from pipeline.config import load_params

HEADER = "contact_id,customer_id,started_at,channel,reason_code,agent_id,wait_s,transfers\n"
ROWS = ["k1,u1,2025-03-01T10:00:00Z,phone,BIL,a1,30,0\n", "k2,u2,2025-03-02T10:00:00Z,chat,TEC,a2,12,1\n",
        "k3,u1,2025-03-04T10:00:00Z,phone,BIL,a1,5,0\n"]


def files(path, **kw) -> FilesConfig:
    return FilesConfig.default(contacts=str(path), **kw)


def write(tmp_path, text: str, name: str = "c.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture(params=["read", "mapped"])
def reading_as(request, monkeypatch):
    """Each reading test twice: files read into memory, and memory-mapped (large files are)."""
    from contract import reading

    if request.param == "mapped":
        monkeypatch.setattr(reading, "MAP_FROM_BYTES", 0)
    return request.param


def test_empty_file_and_header_only_fail_naming_the_file(tmp_path, reading_as):
    with pytest.raises(ReadError, match=r"c.csv is empty"):
        ingest(files(write(tmp_path, "")), 0.05)
    with pytest.raises(ReadError, match=r"c.csv is empty"):
        ingest(files(write(tmp_path, " \n" * 40_000)), 0.05)
    with pytest.raises(ReadError, match=r"a header \(8 columns\) but no rows"):
        ingest(files(write(tmp_path, HEADER)), 0.05)
    with pytest.raises(ReadError, match=r"ingest.files.contacts: no file matches"):
        ingest(files(tmp_path / "nope*.csv"), 0.05)


def test_latin1_without_encoding_names_the_key_and_utf16_with_bom_reads(tmp_path, reading_as):
    text = HEADER + ROWS[0].replace("u1", "Müller")
    latin = write(tmp_path, text, encoding="latin-1")
    with pytest.raises(ReadError, match=r"not UTF-8: .*line 2.*ingest.files.read.encoding"):
        ingest(files(latin), 0.05)
    out = ingest(files(latin, read=ReadConfig(encoding="latin-1")), 0.05)
    assert out.contacts["customer_id"].tolist() == ["Müller"]
    utf16 = write(tmp_path, text, name="u16.csv", encoding="utf-16")  # Python writes the BOM
    assert ingest(files(utf16), 0.05).contacts["customer_id"].tolist() == ["Müller"]
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert ingest(files(bom), 0.05).contacts.columns[0] == "contact_id"  # BOM not glued to the name


def test_transfers_and_waits_that_are_not_finite_whole_numbers_are_quarantined(tmp_path):
    rows = ROWS + ["k4,u3,2025-03-05T10:00:00Z,phone,BIL,a1,5,1.5\n", "k5,u3,2025-03-06T10:00:00Z,phone,BIL,a1,5,inf\n",
                   "k6,u4,2025-03-07T10:00:00Z,phone,BIL,a1,inf,0\n"]
    out = ingest(files(write(tmp_path, HEADER + "".join(rows))), 1.0)
    assert out.counts["contacts"]["quarantined_by_reason"] == {
        "transfers: not a whole number": 1, "transfers: not a finite number": 1, "wait_s: not a finite number": 1}
    assert out.contacts["transfers"].dtype == "Int64"


def test_short_offsets_are_read():
    tp = parse_times(pd.Series(["2025-03-01 10:00:00+05", "2025-03-01T10:00+0530", "2025-03-01"]), None, "UTC")
    assert tp.values[0] == pd.Timestamp("2025-03-01 05:00", tz="UTC")
    assert tp.values[1] == pd.Timestamp("2025-03-01 04:30", tz="UTC")
    assert tp.values[2] == pd.Timestamp("2025-03-01 00:00", tz="UTC")  # a date is not an offset


def test_duplicated_column_names(tmp_path):
    """Each occurrence of a repeated name is NAME#1, NAME#2, ...; the bare NAME is ambiguous, and the
    error lists exactly the accepted spellings."""
    dup = HEADER.replace("wait_s", "agent_id")
    path = write(tmp_path, dup + "".join(r.replace(",30,", ",a9,") for r in ROWS[:1]))
    with pytest.raises(ContractError) as refused:
        ingest(files(path), 0.05)
    assert ("column_map.agent_id names 'agent_id', which occurs 2 times in the header (positions 6, 7); name one "
            "of them: 'agent_id#1' (position 6) or 'agent_id#2' (position 7).") in str(refused.value)
    base = FilesConfig.default(contacts="x").column_map | {"wait_s": None}
    for spelling, agent in (("agent_id#1", "a1"), ("agent_id#2", "a9")):
        out = ingest(files(path, column_map=base | {"agent_id": spelling}), 0.05)
        assert out.contacts["agent_id"].tolist() == [agent]
        # the other occurrence is unused: a note naming its position
        other = 7 if spelling == "agent_id#1" else 6
        assert out.counts["contacts"]["notes"] == [
            f"column 'agent_id' occurs at positions [6, 7] of the header; positions [{other}] unused, so ignored"]
    for spelling in ("agent_id#0", "agent_id#3"):
        with pytest.raises(ContractError, match=rf"'{spelling}', which is not in the contacts file"):
            ingest(files(path, column_map=base | {"agent_id": spelling}), 0.05)
    # a repeated optional column keeps the shipped own-name map from dropping it silently
    team = write(tmp_path, HEADER.strip() + ",team,team\n" + ROWS[0].strip() + ",t1,t2\n", name="t.csv")
    with pytest.raises(ContractError, match=r"column_map.team names 'team', which occurs 2 times.*'team#2' \(position 10\)"):
        ingest(files(team), 0.05)
    # a repeated column nobody maps is only a note
    unused = write(tmp_path, HEADER.strip() + ",note,note\n" + ROWS[0].strip() + ",x,y\n", name="n.csv")
    out = ingest(files(unused), 0.05)
    assert out.counts["contacts"]["notes"] == [
        "column 'note' occurs at positions [9, 10] of the header; unused, so ignored"]
    # a repeated name whose NAME#k spelling the header already uses cannot be told apart
    clash = write(tmp_path, HEADER.strip() + ",note,note,note#2\n" + ROWS[0].strip() + ",x,y,z\n", name="c2.csv")
    with pytest.raises(ReadError, match=r"\['note#2'\] cannot be told apart"):
        ingest(files(clash), 0.05)


def test_duplicated_names_in_parquet_are_spelled_as_in_text(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {"contact_id": ["k1"], "customer_id": ["u1"], "started_at": ["2025-03-01T10:00:00Z"],
            "channel": ["phone"], "reason_code": ["BIL"]}
    arrays = [pa.array(v) for v in cols.values()] + [pa.array(["a1"]), pa.array(["a9"])]
    pq.write_table(pa.Table.from_arrays(arrays, names=[*cols, "agent_id", "agent_id"]), tmp_path / "c.parquet")
    export = read_export(str(tmp_path / "c.parquet"), None)
    assert list(export.table.columns)[-2:] == ["agent_id#1", "agent_id#2"] and export.duplicated == {"agent_id": [6, 7]}


@pytest.mark.parametrize("names", [["contact_id", "agent_id", "wait_s"], ["contact_id", "agent_id", "agent_id"]])
def test_parquet_row_group_ranges_read_as_the_whole_file(tmp_path, names):
    """The Dask engine's tasks read a Parquet file by ranges of row groups (`read_units`): together, the same
    rows, dtypes and header as the whole file read at once, repeated names included; a range holding only
    nulls of a column keeps its type."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 2_500
    arrays = [pa.array([f"k{i}" for i in range(n)]), pa.array([None] * 1_200 + [f"a{i}" for i in range(n - 1_200)]),
              pa.array([float(i % 7) if i % 5 else None for i in range(n)])]
    path = str(tmp_path / "c.parquet")
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path, row_group_size=500)
    units = read_units(path, 1_100)
    assert units == [range(0, 2), range(2, 4), range(4, 5)] and read_units(str(tmp_path / "x.csv"), 1) == [None]
    assert read_units(path, 10) == [range(g, g + 1) for g in range(5)]  # a larger row group alone
    [(_, whole, header)] = read_file(path, None)
    pieces = [read_file(path, None, groups)[0] for groups in units]
    assert all(h == header == names for _, _, h in pieces)
    pd.testing.assert_frame_equal(pd.concat([df for _, df, _ in pieces], ignore_index=True), whole)
    assert all(df.dtypes.equals(whole.dtypes) for _, df, _ in pieces)


def test_integer_ids_with_a_gap_stay_integers(tmp_path):
    df = pd.DataFrame({"contact_id": [1, 2, 3], "customer_id": [17.0, np.nan, 17.0],
                       "started_at": pd.to_datetime(["2025-03-01", "2025-03-02", "2025-03-03"], utc=True),
                       "channel": "phone", "reason_code": "BIL", "agent_id": [5.0, 6.0, 5.0]})
    df.to_parquet(tmp_path / "c.parquet")
    out = ingest(files(tmp_path / "c.parquet"), 0.05)
    k = out.contacts.sort_values("contact_id")
    assert k["customer_id"].tolist()[::2] == ["17", "17"] and k["agent_id"].tolist() == ["5", "6", "5"]


def test_far_future_rows_are_quarantined_and_never_move_as_of():
    raw = pd.DataFrame([r.strip().split(",") for r in ROWS + ["k9,u1,2099-01-01T00:00:00Z,phone,BIL,a1,1,0\n"]],
                       columns=HEADER.strip().split(","))
    res = normalise_contacts(raw, SourceSpec(now=pd.Timestamp("2025-06-01", tz="UTC"), future_tolerance_hours=24))
    assert res.counts["rows_quarantined"] == 1
    assert res.quarantine["reason"].str.startswith("started_at: in the future").all()
    assert res.contacts["started_at"].max() == pd.Timestamp("2025-03-04 10:00", tz="UTC")


def test_archives_globs_and_parquet(tmp_path):
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress((HEADER + ROWS[0]).encode()))
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as zf:
        zf.writestr("export/b.csv", HEADER + ROWS[1])
        zf.writestr("readme.txt", "not data")
    with pytest.raises(ReadError, match=r"ingest.files.read.member"):
        read_export(str(tmp_path / "b.zip"), ReadConfig(member="*.tsv"))
    got = read_export(str(tmp_path / "b.zip"), ReadConfig(member="*.csv"))
    assert got.table["contact_id"].tolist() == ["k2"]
    (tmp_path / "parts").mkdir()
    for i, r in enumerate(ROWS):
        (tmp_path / "parts" / f"day{i}.csv").write_text(HEADER.replace(",", ";") + r.replace(",", ";"))
    out = ingest(files(tmp_path / "parts" / "day*.csv"), 0.05)  # delimiter sniffed
    assert sorted(out.contacts["contact_id"]) == ["k1", "k2", "k3"] and len(out.counts["files"]) == 3


def test_constant_channel_and_absent_agent(tmp_path):
    path = write(tmp_path, "id,cust,start,reason\n" + "x1,u1,2025-03-01 10:00,BIL\nx2,u1,2025-03-03 10:00,BIL\n")
    cmap = {"contact_id": "id", "customer_id": "cust", "started_at": "start", "channel": {"constant": "phone"},
            "reason_code": "reason", "agent_id": None}
    out = ingest(files(path, column_map=cmap), 0.05)
    assert out.contacts["agent_id"].isna().all() and (out.contacts["channel"] == "phone").all()
    assert "agent_id" in out.counts["absent_columns"] and out.contract["has_agents"] is False
    with pytest.raises(ContractError, match=r"required column 'channel'"):
        ingest(files(path, column_map=cmap | {"channel": None}), 0.05)


def test_params_errors_name_the_key_and_the_allowed_values(tmp_path):
    with pytest.raises(ValidationError, match=r"dst_ambiguous\n.*'earliest', 'latest' or 'quarantine'"):
        FilesConfig.default(dst_ambiguous="first")
    with pytest.raises(ValidationError, match=r"not an IANA time zone"):
        FilesConfig.default(timezone="CEST")
    with pytest.raises(ValidationError, match=r"resolved_when for kind 'count' must be one of \['zero', 'positive'\]"):
        OutcomeSignal(column="x", kind="count", resolved_when=True)
    with pytest.raises(ValidationError, match=r"delimiter must be one character"):
        ReadConfig(delimiter=";;")
    bad = tmp_path / "params.yaml"
    bad.write_text(PARAMS_FILE.read_text().replace("encoding: null", "encoding: ascii"))
    with pytest.raises(ParamsError, match=r"ingest.files.read.encoding: Input should be 'utf-8', 'utf-8-sig'"):
        load_params(bad)


def test_a_file_that_cannot_be_mapped_is_read(tmp_path, monkeypatch):
    """Large files are memory-mapped; on a file system that refuses it, the file is read instead."""
    from contract import reading

    def refuse(*args, **kwargs):
        raise OSError("mmap: operation not supported")

    monkeypatch.setattr(reading, "MAP_FROM_BYTES", 0)
    monkeypatch.setattr(reading.mmap, "mmap", refuse)
    out = ingest(files(write(tmp_path, HEADER + "".join(ROWS))), 0.05)
    assert out.contacts["contact_id"].tolist() == ["k1", "k3", "k2"]


def test_contacts_the_side_tables_do_not_know_are_counted_the_same_piece_by_piece(tmp_path, monkeypatch):
    """A customer or agent missing from the customers/agents tables is counted (an anonymous contact
    is not); the stage's way, the contacts handed to a sink in pieces and never held whole, gives
    the same counts and contract description as the whole table, and the pieces are that table."""
    from contract import ordering

    rows = ROWS + ["k4,u9,2025-03-05T10:00:00Z,email,TEC,a7,,0\n", "k5,0,2025-03-06T10:00:00Z,phone,BIL,a1,,0\n",
                   "k6,u2,2025-03-07T10:00:00Z,phone,BIL,a7,3,0\n"]
    contacts = write(tmp_path, HEADER + "".join(rows))
    write(tmp_path, "customer_id,segment\nu1,gold\nu2,silver\n", "customers.csv")
    write(tmp_path, "agent_id,team\na1,north\na2,south\n", "agents.csv")
    cfg = files(contacts, customers=str(tmp_path / "customers.csv"), agents=str(tmp_path / "agents.csv"),
                anonymous_customer_ids=["0"])
    whole = ingest(cfg, 0.05)
    c = whole.counts["contacts"]
    assert (c["unknown_customers"], c["unknown_agents"], c["anonymous_contacts"]) == (1, 2, 1)
    assert whole.contract["channels"] == ["chat", "email", "phone"] and whole.contract["has_agents"]
    assert "wait_s" not in whole.contract["all_missing_columns"]
    for threads, chunk in ((1, 1), (2, 1), (2, 2), (2, 250_000)):  # (also the single-thread take)
        pieces: list[pd.DataFrame] = []
        monkeypatch.setattr(ordering, "THREADS", threads)
        monkeypatch.setattr(ordering, "PIECE_ROWS", chunk)
        streamed = ingest(cfg, 0.05, sink=pieces.append)
        assert streamed.contacts is None and len(pieces) == -(-6 // chunk)
        assert streamed.counts == whole.counts and streamed.contract == whole.contract
        pd.testing.assert_frame_equal(pd.concat(pieces).reset_index(drop=True), whole.contacts)


def test_an_impossible_day_is_unparseable_not_rolled_into_the_next_month():
    """Arrow's strptime reads 31/02 as 3 March; the parse must refuse it, as pandas does."""
    text = pd.Series(["31/02/2025 12:00", "29/02/2025 08:00", "29/02/2024 08:00", "03/03/2025 09:00", "3/3/2025 9:05",
                      "31/03/2025 10:00"])
    parsed = parse_times(text, "%d/%m/%Y %H:%M", "UTC").values
    assert parsed.isna().tolist() == [True, True, False, False, False, False]
    assert parsed[2] == pd.Timestamp("2024-02-29 08:00", tz="UTC") and parsed[4] == pd.Timestamp("2025-03-03 09:05", tz="UTC")
