"""The ids the synthetic centre writes: a prefix and a number, zero-padded to a fixed width.

Contacts are CONTACT_PREFIX and CONTACT_DIGITS digits: the generated contacts numbered 1..n in the
order of the truth's rows, the call-back legs of dropped calls after them; in a centre of several parts
(synthetic/parts.py) each part's contacts and legs are numbered so after the previous part's (customers
and issues likewise), so that ids stay unique and of one width across parts. The truth check
(synthetic/truth.py) matches contacts on those numbers; a light module, so that importing it costs
the label stage nothing of the generator's own imports."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CONTACT_PREFIX, CONTACT_DIGITS = "CT", 9


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """`prefix` followed by each number, zero-padded to `width` digits, as Arrow strings."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")
