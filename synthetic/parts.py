"""The synthetic centre in parts: how it is split (synthetic.part_contacts) and the files each part writes.

In: a `SyntheticConfig`. Out: its `Part`s, ceil(n_contacts / part_contacts) disjoint blocks of customers
with their share of the contacts, generated and written one after the other so that the generator's
memory follows the part, not the centre (synthetic/centre.py `generate_into`). A table made part by part
(contacts and customers in the export, the truth) is one file per part, `contacts-00000.parquet`, ...,
or the one file `contacts.parquet` when the centre is a single part; agents, reasons and truth.json are
the centre's, one file each. A light module: readers of the export and the truth import it, not the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from base.errors import ParamsError
from synthetic.config import SyntheticConfig


@dataclass(frozen=True)
class Part:
    """Part `index` of `parts`: about n_contacts contacts of n_customers customers, numbered after
    `first_customer`."""

    index: int
    parts: int
    n_contacts: int
    n_customers: int
    first_customer: int

    def name(self, table: str) -> str:
        return part_name(table, self.index, self.parts)


def split_parts(cfg: SyntheticConfig) -> list[Part]:
    """ceil(n_contacts / part_contacts) parts, the customers and the contacts split evenly between them."""
    parts = -(-cfg.n_contacts // cfg.part_contacts)
    if parts > cfg.n_customers:
        raise ParamsError(f"synthetic.part_contacts {cfg.part_contacts} splits the centre into {parts} parts, more "
                          f"than its {cfg.n_customers} customers (synthetic.n_customers): raise part_contacts.")
    edge = [(cfg.n_contacts * k // parts, cfg.n_customers * k // parts) for k in range(parts + 1)]
    return [Part(index=k, parts=parts, n_contacts=edge[k + 1][0] - edge[k][0],
                 n_customers=edge[k + 1][1] - edge[k][1], first_customer=edge[k][1]) for k in range(parts)]


def part_name(table: str, index: int, parts: int) -> str:
    """The file stem of part `index` of a table: `table` when the centre is one part, else `table-00000`, ..."""
    return table if parts == 1 else f"{table}-{index:05d}"


def part_files(folder: str | Path, table: str) -> list[Path]:
    """A table's Parquet files in `folder` in part order: `table.parquet`, or its parts; [] when there is none."""
    one = Path(folder) / f"{table}.parquet"
    return [one] if one.exists() else sorted(Path(folder).glob(f"{table}-[0-9][0-9][0-9][0-9][0-9].parquet"))
