"""A synthetic centre written out in the three export shapes of examples/ (telephony log, ticket event
log, service-desk export), large enough for a whole `dvc repro` (train needs hundreds of contacts);
the hand-written fixtures in tests/contract/fixtures are the small ones with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthetic.config import Messiness, SyntheticConfig
from synthetic.centre import generate
from synthetic.reasons import REASON_FAMILY


def centre(n_contacts: int, seed: int = 7) -> pd.DataFrame:
    cfg = SyntheticConfig.default(n_contacts=n_contacts, n_customers=max(n_contacts // 5, 10), n_agents=30,
                                  n_teams=5, seed=seed, days=120, messiness=Messiness.clean())
    df = generate(cfg).contacts
    for col in ("started_at", "ended_at"):
        df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
    return df.sort_values("started_at").reset_index(drop=True)


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def telephony(df: pd.DataFrame) -> bytes:
    local = df["started_at"].dt.tz_convert("America/Chicago")
    rng = np.random.default_rng(1)
    customer = df["customer_id"].str.replace(r"\D", "", regex=True).where(rng.random(len(df)) > 0.02, "0")
    outcome = np.where(df["disposition"] == "abandoned", "2", "1")
    outcome = np.where(rng.random(len(df)) < 0.005, "9", outcome)
    out = pd.DataFrame({
        "CallDate": local.dt.strftime("%m/%d/%y"), "CallTime": local.dt.strftime("%H:%M:%S"),
        "CallID": df["contact_id"].str.replace(r"\D", "", regex=True), "CallerNo": customer,
        "Queue": df["team"].fillna(""), "Agent": df["agent_id"].fillna(""), "WrapCode": df["reason_code"],
        "Outcome": outcome, "RingSec": _num(df["wait_s"]).round().astype("Int64"),
        "TalkSec": _num(df["handle_s"]).round().astype("Int64"), "Xfer": _num(df["transfers"]).astype("Int64")})
    return out.to_csv(sep="\t", index=False, lineterminator="\r\n").encode()


SOURCE = {"phone": "PHONE", "chat": "Chat", "email": "Email", "social": "web", "self_service": "Web"}


def tickets(df: pd.DataFrame) -> bytes:
    df = df[df["disposition"] != "abandoned"].reset_index(drop=True)
    rng = np.random.default_rng(2)
    reopened = df["survey_resolved"].astype("str").str.lower().eq("false").to_numpy()
    base = pd.DataFrame({
        "TicketNo": "INC-" + df["contact_id"].str.replace(r"\D", "", regex=True),
        "Requester": df["customer_id"].str.lower() + "@example.com",
        "Category": df["reason_code"].map(REASON_FAMILY).str.title(), "Subcategory": df["reason_code"],
        "Source": df["channel"].map(SOURCE), "Assignee": df["agent_id"].fillna("?"),
        "Priority": pd.Series(rng.integers(1, 5, len(df))).astype("str").where(rng.random(len(df)) > 0.05, "?")})
    end = df["ended_at"].fillna(df["started_at"] + pd.Timedelta(minutes=30))
    events = [base.assign(t=df["started_at"], Status="New", ReopenCount="0"),
              base.assign(t=end, Status="Resolved", ReopenCount="0")]
    r = base[reopened]
    later = end[reopened] + pd.Timedelta(days=1)
    events += [r.assign(t=later, Status="Reopened", ReopenCount="1"),
               r.assign(t=later + pd.Timedelta(hours=2), Status="Resolved", ReopenCount="1")]
    out = pd.concat(events, ignore_index=True).sort_values(["t", "TicketNo"], kind="stable")
    out.insert(1, "EventTime", out.pop("t").dt.tz_convert("Europe/London").dt.strftime("%d/%m/%Y %H:%M"))
    return out[["TicketNo", "EventTime", "Requester", "Category", "Subcategory", "Source", "Assignee", "Status",
                "ReopenCount", "Priority"]].to_csv(index=False).encode()


def servicedesk(df: pd.DataFrame) -> bytes:
    df = df[df["disposition"] != "abandoned"].reset_index(drop=True)
    fmt = "%d/%m/%Y %H:%M"
    survey = df["survey_resolved"].astype("str").str.lower()
    minutes = (_num(df["handle_s"]) / 60).round(1)
    out = pd.DataFrame({
        "Nº Incidencia": "SD-" + df["contact_id"].str.replace(r"\D", "", regex=True),
        "Fecha apertura": df["started_at"].dt.tz_convert("Europe/Madrid").dt.strftime(fmt),
        "Fecha cierre": df["ended_at"].dt.tz_convert("Europe/Madrid").dt.strftime(fmt).fillna(""),
        "Cliente": "Cliente Núñez " + df["customer_id"].str.replace(r"\D", "", regex=True),
        "Categoría": df["reason_code"], "Descripción breve": "Incidencia",
        "Resuelto 1er contacto": np.where(survey == "true", "Sí", np.where(survey == "false", "No", "")),
        "Duración (min)": minutes.astype("str").str.replace(".", ",", regex=False).replace("nan", "")})
    return out.to_csv(sep=";", index=False, lineterminator="\r\n").encode("latin-1")


RENDER = {"telephony": telephony, "tickets": tickets, "servicedesk": servicedesk}
