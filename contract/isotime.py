"""Timestamps written exactly as `YYYY-MM-DDTHH:MM:SS` with `Z` or a `+HH:MM` offset, read from their bytes.

In: an Arrow string array (trimmed) and the rows to try. Out: each row's instant in microseconds since the
epoch (UTC) and whether it was read here. Why: exports of contact systems mostly write this one shape, and
pandas' ISO 8601 parser first turns every value into a Python string (its parse of 10 million such values
is most of the ingest's time for the timestamps). Digits are taken from the string data at their fixed
places with numpy, checked, and combined with integer arithmetic.

Only values pandas surely reads the same are read here: the exact shape, byte by byte (ASCII digits,
`-`, `T`, `:`, an upper-case `Z`), a real date in 1900-2199, hours to 23, minutes and seconds to 59,
offsets to 14 hours. Every other value is left to `schema.parse_times`' pandas path, which decides as
before (tests/contract/test_fast_paths.py holds the two to the same results).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_US = 1_000_000
NAT = np.iinfo(np.int64).min  # numpy's NaT as an integer
CHUNK = 1 << 18  # rows copied out at a time (2 x 6.5 MB, and their fields)
FIRST_YEAR, LAST_YEAR = 1900, 2199


def _pairs() -> np.ndarray:
    """Two bytes read as a little-endian uint16 -> their value when both are ASCII digits, else 255."""
    table = np.full(1 << 16, 255, dtype=np.uint8)
    for tens in range(10):
        for ones in range(10):
            table[(48 + tens) | (48 + ones) << 8] = 10 * tens + ones
    return table


def _months() -> tuple[np.ndarray, np.ndarray]:
    """Per month of FIRST_YEAR..LAST_YEAR (index (year - FIRST_YEAR) * 12 + month - 1): its first day in
    days since 1970-01-01, and its number of days."""
    months = np.arange(np.datetime64(f"{FIRST_YEAR}-01"), np.datetime64(f"{LAST_YEAR + 1}-02"), dtype="datetime64[M]")
    first = months.astype("datetime64[D]").astype(np.int64)
    return first[:-1], np.diff(first)


_PAIR = _pairs()
_FIRST_DAY, _MONTH_DAYS = _months()
# Byte positions of the two-digit fields, in the two copies of each value (from its first byte, and from
# its second: both start at an even position of their row, so each field is one uint16 of one of them).
_EVEN = {"century": 0, "year": 2, "day": 8, "minute": 14, "off_h": 20}
_ODD = {"month": 5, "hour": 11, "second": 17, "off_m": 23}


def iso_with_offset(arr: pa.Array | pa.ChunkedArray, among: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(microseconds since the epoch, UTC; True where read) for the rows of `among` in the shape of the
    module docstring; other rows: NaT's integer (the smallest int64) and False. The values of 20 or 25
    bytes are copied out as rows of a byte matrix (a strided view of the string data: no per-byte index),
    `CHUNK` rows at a time, and each two-digit field is read as one uint16 through a table of the 100
    digit pairs."""
    n = len(arr)
    us, ok = np.full(n, NAT, dtype=np.int64), np.zeros(n, dtype=bool)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if not n or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)) or not among.any():
        return us, ok
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    _, offsets_buf, data_buf = arr.buffers()
    if data_buf is None:
        return us, ok
    offsets = np.frombuffer(offsets_buf, dtype=width)[arr.offset: arr.offset + n + 1]
    length = np.diff(offsets)
    rows = np.flatnonzero(among & ((length == 20) | (length == 25)) & arr.is_valid().to_numpy(zero_copy_only=False))
    data = np.frombuffer(data_buf, dtype=np.uint8)
    for lo in range(0, len(rows), CHUNK):
        part = rows[lo:lo + CHUNK]
        seconds, good = _seconds(*_copies(data, offsets[part]), length[part] == 25)
        us[part[good]] = seconds[good] * _US
        ok[part[good]] = True
    return us, ok


def _copies(data: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """26 bytes from each value's first byte, and 26 from its second, as rows of two byte matrices (one
    copy of each row out of a strided view). The last values, where the data ends too soon, from a padded
    copy of its end."""
    limit = len(data) - 27  # the last start with 27 bytes of data from it
    tail_from = max(len(data) - 64, 0)
    tail = np.lib.stride_tricks.sliding_window_view(np.concatenate([data[tail_from:], np.zeros(27, np.uint8)]), 26)
    if limit < 0:
        return tail[start - tail_from], tail[start - tail_from + 1]
    windows = np.lib.stride_tricks.sliding_window_view(data, 26)
    fits = np.minimum(start, limit)
    even, odd = windows[fits], windows[fits + 1]
    late = np.flatnonzero(start > limit)
    if len(late):
        even[late], odd[late] = tail[start[late] - tail_from], tail[start[late] - tail_from + 1]
    return even, odd


def _seconds(even: np.ndarray, odd: np.ndarray, zoned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since the epoch (UTC) of values given as rows of 26 bytes from their first byte (`even`)
    and from their second (`odd`); `zoned`: 25 bytes with an offset, else 20 ending in Z (the bytes beyond
    a value: anything). Also True where the value is in the shape and valid."""
    f = {name: _PAIR[even.view("<u2")[:, at // 2]] for name, at in _EVEN.items()}
    f |= {name: _PAIR[odd.view("<u2")[:, (at - 1) // 2]] for name, at in _ODD.items()}
    sign = even[:, 19]
    good = ((even[:, 4] == 45) & (even[:, 7] == 45) & (even[:, 10] == 84) & (even[:, 13] == 58)
            & (even[:, 16] == 58) & (np.maximum.reduce([f[k] for k in ("century", "year", "day", "minute", "month",
                                                                          "hour", "second")]) <= 99))
    offset_ok = ((sign == 43) | (sign == 45)) & (even[:, 22] == 58) & (f["off_h"] <= 14) & (f["off_m"] <= 59)
    good &= np.where(zoned, offset_ok, sign == 90)
    year = f["century"].astype(np.int32) * 100 + f["year"]
    good &= (year >= FIRST_YEAR) & (year <= LAST_YEAR) & (f["month"] >= 1) & (f["month"] <= 12)
    month = np.where(good, (year - FIRST_YEAR) * 12 + f["month"] - 1, 0)
    good &= (f["day"] >= 1) & (f["day"] <= _MONTH_DAYS[month]) & (f["hour"] <= 23) & (f["minute"] <= 59)
    good &= f["second"] <= 59
    clock = f["hour"].astype(np.int32) * 3600 + f["minute"].astype(np.int32) * 60 + f["second"]
    offset = np.where(zoned, (f["off_h"].astype(np.int32) * 3600 + f["off_m"].astype(np.int32) * 60)
                      * np.where(sign == 45, -1, 1), 0)
    seconds = (_FIRST_DAY[month] + f["day"] - 1) * 86_400 + (clock - offset)
    return seconds, good
