"""The sweep's result: a tidy table of rows, its text/CSV/JSON forms, and :func:`write`."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendMissingError, InvalidArgumentError, OutputFileError
from ..io import as_path, atomic_write_text, check_writable

__all__ = ["SweepTable", "write", "Row", "Measure"]

Row = dict[str, Any]
Measure = Callable[..., "Mapping[str, Any] | Sequence[Mapping[str, Any]]"]


@dataclass(frozen=True)
class SweepTable:
    """A tidy table: one dict per measured row, all with the same keys (``columns``).

    records: the rows in input order (configuration-major, then seed, then the rows one
             call returned); values are Python scalars (int, float, str, bool).
    """

    records: tuple[Row, ...]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.records)

    @property
    def columns(self) -> list[str]:
        return list(self.records[0]) if self.records else []

    def column(self, name: str) -> np.ndarray:
        """The values of one column, in row order."""
        if self.records and name not in self.records[0]:
            raise InvalidArgumentError(
                f"no column {name!r} in this sweep; its columns are {self.columns}."
            )
        return np.array([r[name] for r in self.records])

    def where(self, **match: Any) -> SweepTable:
        """The rows whose columns equal every ``key=value`` given."""
        return SweepTable(tuple(r for r in self.records
                                if all(r.get(k) == v for k, v in match.items())))

    def to_frame(self) -> Any:
        """A pandas DataFrame (pandas comes with the ``[dask]`` extra)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is in the test environment
            raise BackendMissingError(
                "SweepTable.to_frame() needs pandas; install it with "
                "`pip install pkverify[dask]` (or `pip install pandas`), or use .records."
            ) from exc
        return pd.DataFrame.from_records(list(self.records), columns=self.columns)

    def to_csv(self) -> str:
        """The table as CSV text (header row first)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for r in self.records:
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in r.items()})
        return buf.getvalue()

    def to_json(self) -> str:
        """The rows as a JSON list (NaN/inf written as strings)."""
        return json.dumps([{k: _json_value(v) for k, v in r.items()} for r in self.records],
                          indent=1)

    def format(self, max_rows: int | None = None) -> str:
        """A plain-text table (floats to 6 significant digits)."""
        cols = self.columns
        rows = self.records if max_rows is None else self.records[:max_rows]
        cells = [[_cell(r[c]) for c in cols] for r in rows]
        widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
        lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths)),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
        if max_rows is not None and len(self.records) > max_rows:
            lines.append(f"... {len(self.records) - max_rows} more rows")
        return "\n".join(lines)


def _cell(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def check_target(path: str | Path) -> Path:
    """Check, before a sweep runs, that :func:`write` may write ``path``; returns the path.

    Refused (:class:`~pkverify.errors.OutputFileError`): a folder (or a path ending in a
    separator), a path that cannot be written, and an existing file that is not a sweep table
    pkverify wrote — pkverify never overwrites a file it did not write.
    """
    text_path = os.fspath(path) if isinstance(path, (str, os.PathLike)) else path
    target = as_path(path, "sweep output file")
    if isinstance(text_path, str) and text_path.endswith((os.sep, "/")) or target.is_dir():
        where = "is a folder" if target.is_dir() else "ends in a folder separator"
        raise OutputFileError(
            f"sweep output {str(text_path)!r} {where}; give a file name such as "
            f"{str(target / 'sweep.csv')!r} (.csv for CSV, anything else for JSON)."
        )
    check_writable(target, "sweep output file")
    if target.exists() and not _is_sweep_file(target, target.suffix.lower() == ".csv"):
        raise OutputFileError(
            f"{str(target)!r} exists and is not a sweep table pkverify wrote; pkverify never "
            "overwrites a file it did not write. Choose another name or remove the file."
        )
    return target


def write(table: SweepTable, path: str | Path) -> Path:
    """Write the table to ``path`` as CSV (``.csv``) or JSON (anything else), atomically.

    The target is checked first by :func:`check_target` (call it yourself before a long
    sweep to fail early). Returns the path written.
    """
    if not isinstance(table, SweepTable):
        raise InvalidArgumentError(
            f"write needs a SweepTable (what sweeps.run returns); got {type(table).__name__}."
        )
    target = check_target(path)
    csv_form = target.suffix.lower() == ".csv"
    return atomic_write_text(
        target, table.to_csv() if csv_form else table.to_json(), "sweep output file"
    )


def _is_sweep_file(path: Path, csv_form: bool) -> bool:
    """True when ``path`` holds a table in exactly the form :func:`write` gives it: a ``seed``
    column of integers, and the text unchanged when written out again in pkverify's layout
    (CSV: header first, ``\\n`` line ends, minimal quoting; JSON: a list of rows, indent 1).

    The form is the only mark a CSV file can carry, so a file another tool wrote in exactly this
    form (an integer ``seed`` column included) would be taken for a sweep table."""
    try:
        text = path.read_bytes().decode("utf-8")  # as written: no newline translation
        if csv_form:
            rows = list(csv.DictReader(io.StringIO(text)))
            fields = list(rows[0]) if rows else []
            again = io.StringIO()
            writer = csv.DictWriter(again, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            seeds = [r["seed"] for r in rows]
            return again.getvalue() == text and all(s.lstrip("-").isdigit() for s in seeds)
        rows = json.loads(text)
        return (
            isinstance(rows, list)
            and all(isinstance(r, dict) and isinstance(r.get("seed"), int) for r in rows)
            and json.dumps(rows, indent=1) == text
        )
    except Exception:  # unreadable, not UTF-8, not CSV/JSON, no seed column: not ours
        return False
