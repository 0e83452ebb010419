"""Row validation over whole columns (Arrow compute and numpy), for big imports. No IO.

`validate_batch` is a strict pre-filter of `model.validate_row`: it accepts a row only
when every field is plainly valid (no surrounding spaces, ISO dates, ASCII digits, ...)
and gives the same clean values `validate_row` would. Every other row is left to
`validate_row`, which decides it and words the reason, so rejects read the same on
both paths. About 1 µs per row instead of ~20 µs in Python.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cityos.data.model import ID_CHECK, ID_WEIGHTS, LICENCES, POPULATION, DatasetSpec, FieldSpec

# A first or last character that str.strip() would remove (ASCII spaces, separators, NEL, Unicode Z*).
_EDGE_SPACE = r"^[\s\x0b\x1c-\x1f\x{85}\p{Z}]|[\s\x0b\x1c-\x1f\x{85}\p{Z}]$"
_CHECKS = {None, "id_number", "grid", "phone", "past"}
_TYPES = {"text", "int", "numeric", "date"}


def supports(spec: DatasetSpec) -> bool:
    """Whether every field of the dataset can be checked column-wise (else: row by row)."""
    return spec is not LICENCES and all(f.type in _TYPES and f.check in _CHECKS for f in spec.fields)


def _days(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def _id_numbers(col: pa.Array, today: date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid, birth date as days since 1970, male) of GB 11643 numbers; checksum and birth date checked."""
    shaped = pc.fill_null(pc.match_substring_regex(col, r"^[0-9]{17}[0-9Xx]$"), False)
    ok = shaped.to_numpy(zero_copy_only=False)
    fixed = pc.if_else(shaped, col, pa.scalar("000000197001010000")).cast(pa.binary(18))
    b = np.frombuffer(fixed.buffers()[1], dtype=np.uint8, count=18 * len(fixed)).reshape(-1, 18)
    digits = b[:, :17].astype(np.int64) - 48
    want = np.frombuffer(ID_CHECK.encode(), dtype=np.uint8)[(digits * np.array(ID_WEIGHTS)).sum(axis=1) % 11]
    last = b[:, 17].copy()
    last[last == ord("x")] = ord("X")
    ok &= last == want

    def num(a: int, z: int) -> np.ndarray:
        out = np.zeros(len(digits), dtype=np.int64)
        for i in range(a, z):
            out = out * 10 + digits[:, i]
        return out

    y, m, d = num(6, 10), num(10, 12), num(12, 14)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    mdays = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(m, 0, 12)] + ((m == 2) & leap)
    ok &= (y >= 1) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= mdays)
    ys = np.where(ok, y, 1970)
    born = ((ys - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (np.where(ok, m, 1) - 1)).astype(
        "datetime64[D]") + (np.where(ok, d, 1) - 1)
    born_days = born.astype(np.int64)
    ok &= born_days <= _days(today)
    return ok, born_days, (digits[:, 16] % 2 == 1)


def validate_batch(spec: DatasetSpec, batch: pa.RecordBatch, today: date, grids: pa.Array
                   ) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """(mask of rows accepted here, the clean columns for all rows: only the masked ones are meaningful).

    `batch` holds the file's columns as strings (empty string for an empty cell).
    """
    n = batch.num_rows
    ok = np.ones(n, dtype=bool)
    out: dict[str, pa.Array] = {}
    names = set(batch.schema.names)
    born_id: np.ndarray | None = None
    male_id: np.ndarray | None = None
    for f in spec.fields:
        if f.name not in names:
            # A column the file does not have (optional only: the header was checked).
            out[f.name] = pa.nulls(n, pa.date32() if f.type == "date" else _arrow_type(f))
            continue
        col = batch.column(f.name)
        if col.null_count:
            col = pc.fill_null(col, "")
        empty = pc.equal(col, "").to_numpy(zero_copy_only=False)
        if f.required:
            ok &= ~empty
        present = ~empty
        ok &= ~(pc.match_substring_regex(col, _EDGE_SPACE).to_numpy(zero_copy_only=False) & present)
        value = _convert(f, col, present, ok)
        if f.choices:
            ok &= pc.is_in(col, value_set=pa.array(f.choices)).to_numpy(zero_copy_only=False) | empty
        if f.check == "id_number":
            good, born_days, male = _id_numbers(col, today)
            ok &= good | empty
            if f.name == "id_number":
                born_id, male_id = born_days, male
        elif f.check == "grid":
            ok &= pc.is_in(col, value_set=grids).to_numpy(zero_copy_only=False) | empty
        elif f.check == "phone":
            ok &= pc.match_substring_regex(col, r"^1[3-9][0-9]{9}$").to_numpy(zero_copy_only=False) | empty
        elif f.check == "past" and f.type == "date":
            days = pc.fill_null(value.cast(pa.int32()), 0).to_numpy(zero_copy_only=False)
            ok &= (days <= _days(today)) | empty
        out[f.name] = pc.if_else(pa.array(empty), pa.nulls(n, value.type), value) if not f.required else value
    if spec is POPULATION and born_id is not None:
        days = pc.fill_null(out["birth_date"].cast(pa.int32()), 0).to_numpy(zero_copy_only=False)
        ok &= days == born_id
        assert male_id is not None
        ok &= pc.equal(out["gender"], "M").to_numpy(zero_copy_only=False) == male_id
    return ok, out


def _arrow_type(f: FieldSpec) -> pa.DataType:
    return {"int": pa.int64(), "numeric": pa.float64(), "date": pa.date32()}.get(f.type, pa.string())


def _convert(f: FieldSpec, col: pa.Array, present: np.ndarray, ok: np.ndarray) -> pa.Array:
    """The typed column; rows that do not convert plainly are cleared from `ok` (in place)."""
    if f.type == "text":
        return col
    if f.type == "date":
        shaped = pc.match_substring_regex(col, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
        parsed = pc.strptime(pc.if_else(shaped, col, "1970-01-01"), format="%Y-%m-%d", unit="s", error_is_null=True)
        ok &= ~(present & parsed.is_null().to_numpy(zero_copy_only=False))
        ok &= shaped.to_numpy(zero_copy_only=False) | ~present
        # strptime rolls 02-30 over into March on some platforms: compare the round trip.
        dates = pc.fill_null(parsed, 0).cast(pa.date32())
        same = pc.equal(pc.strftime(dates, format="%Y-%m-%d"), col).to_numpy(zero_copy_only=False)
        ok &= same | ~present
        return dates
    if f.type == "int":
        shaped = pc.match_substring_regex(col, r"^[+-]?[0-9]{1,18}$").to_numpy(zero_copy_only=False)
        ok &= shaped | ~present
        return pc.if_else(pa.array(shaped), col, "0").cast(pa.int64())
    shaped = pc.match_substring_regex(col, r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$"
                                      ).to_numpy(zero_copy_only=False)
    ok &= shaped | ~present
    return pc.if_else(pa.array(shaped), col, "0").cast(pa.float64())
