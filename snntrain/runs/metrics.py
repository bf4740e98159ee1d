"""metrics.csv: one row per epoch, every monitor a column; rewritten whole (atomically) after each epoch."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from snntrain.errors import SnntrainError
from snntrain.atomic import atomic_write_text, os_reason

Row = dict[str, float | int | str]

_INT = re.compile(r"[+-]?\d+")


def format_metrics(rows: list[Row]) -> str:
    """CSV text of `rows`: the header is the union of their keys in first-seen order; missing cells are empty."""
    header = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def parse_value(text: str) -> float | int | str:
    """A CSV cell back as the type it was written from: int, then float (nan/inf included), else str."""
    # int() would also accept "1_000"; only plain digits were written by format_metrics for ints.
    if _INT.fullmatch(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def parse_metrics(text: str) -> list[Row]:
    """Rows of a CSV written by `format_metrics`; empty cells (a monitor a row did not have) are left out."""
    return [{key: parse_value(value) for key, value in row.items() if value != ""}
            for row in csv.DictReader(io.StringIO(text))]


def last_epoch(rows: list[Row]) -> int:
    """The last epoch `rows` record (0 for none). Not the row count: a run of an older version may lack an epoch
    that a crash cut off, and is finished all the same."""
    return int(rows[-1]["epoch"]) if rows else 0


def best_row(rows: list[Row], metric: str, maximise: bool = True) -> Row | None:
    """The first row of the best value of `metric` (highest, or lowest unless `maximise`) among the rows that
    have it, as the trainer keeps the first best epoch; None when no row has it."""
    known = [row for row in rows if metric in row]
    if not known:
        return None
    return (max if maximise else min)(known, key=lambda row: row[metric])


def write_metrics(path: Path, rows: list[Row]) -> None:
    """Replace the CSV at `path` with `rows`, atomically."""
    atomic_write_text(path, format_metrics(rows))


def read_metrics(path: Path, numbers: tuple[str, ...] = ()) -> list[Row]:
    """The rows of the CSV at `path`, one per epoch in order (a run of an older version may lack an epoch that a
    crash cut off); none when it does not exist yet (no epoch completed). Each row must hold a number in every
    column of `numbers`: a file edited or damaged by hand is a one-line error, not a wrong figure."""
    def damaged(what: str) -> SnntrainError:
        return SnntrainError(f"metrics file {path}: {what}; its run's last.h5 holds the records too, and "
                             f"`snntrain train --resume {Path(path).parent}` rewrites the file from it")

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise SnntrainError(f"cannot read metrics file {path}: {os_reason(exc)}") from None
    except UnicodeDecodeError:
        raise damaged("not UTF-8 text") from None
    try:
        rows = parse_metrics(text)
    except csv.Error as exc:
        raise damaged(f"not valid CSV ({exc})") from None
    last = 0
    for index, row in enumerate(rows, 1):
        epoch = row.get("epoch")
        if not (isinstance(epoch, int) and epoch > last):
            raise damaged(f"row {index} has epoch {epoch if epoch is not None else 'missing'!r}, where an epoch "
                          f"after {last} belongs")
        for key in numbers:
            if not isinstance(row.get(key), (int, float)):
                raise damaged(f"epoch {epoch} has no number in column {key} ({row.get(key, 'missing')!r})")
        last = epoch
    return rows
