"""Reading OneRoster CSV files: rows with line numbers, typed fields, refusals.

Nothing here knows what a student is. It turns one file into rows whose
fields are read by column name, and records every problem as a ``Refusal``
naming the file, the line (1-based, the header is line 1) and the reason,
so that a whole file set can be checked before anything is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TextIO, TypeVar

T = TypeVar("T")

# A user sees this many problems at once; the rest are counted.
MAX_REFUSALS_SHOWN = 50

# OneRoster lists are comma-separated inside one field; the metadata.*
# extensions of docs/architecture.md section 4 are space-separated. Accept either in both.
_LIST_SEPARATOR = re.compile(r"[,\s]+")
_YEAR_GROUP_NAMES_HINT = (
    "metadata.yearGroupNames must read like '09=Year 9 10=Year 10', not {value!r}"
)

# The bulk-file status column: empty in OneRoster 1.1 bulk files, and
# "inactive" is OneRoster 1.0's word for what 1.1 calls "tobedeleted".
_ACTIVE_STATUSES = frozenset({"", "active"})
_DELETED_STATUSES = frozenset({"tobedeleted", "inactive"})


@dataclass(frozen=True)
class Refusal:
    """Why a file set was refused: one problem in one place."""

    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file} line {self.line}"
        return f"{where}: {self.reason}"


class Refusals:
    """Every problem found in a file set; the first ``MAX_REFUSALS_SHOWN`` are kept."""

    def __init__(self, limit: int = MAX_REFUSALS_SHOWN) -> None:
        self.limit = limit
        self.shown: list[Refusal] = []
        self.count = 0

    def add(self, file: str, line: int | None, reason: str) -> None:
        self.count += 1
        if len(self.shown) < self.limit:
            self.shown.append(Refusal(file, line, reason))

    def __bool__(self) -> bool:
        return self.count > 0


class FieldError(ValueError):
    """A field that cannot be read; the row reader turns it into a Refusal."""


class Row:
    """One data row of a CSV file, its fields read by column name."""

    __slots__ = ("_columns", "_values", "line")

    def __init__(self, columns: dict[str, int], values: list[str], line: int) -> None:
        self._columns = columns
        self._values = values
        self.line = line

    def raw(self, column: str) -> str:
        index = self._columns.get(column)
        return "" if index is None else self._values[index].strip()

    def text(self, column: str, *, max_length: int = 255) -> str:
        """A required, non-empty text field."""
        # raw() inlined: this runs for most fields of a million-row file set.
        index = self._columns.get(column)
        value = "" if index is None else self._values[index].strip()
        if not value:
            raise FieldError(f"{column} is empty")
        if len(value) > max_length:
            raise FieldError(f"{column} is longer than {max_length} characters")
        return value

    def optional_text(self, column: str, *, max_length: int = 255) -> str | None:
        index = self._columns.get(column)
        value = "" if index is None else self._values[index].strip()
        if len(value) > max_length:
            raise FieldError(f"{column} is longer than {max_length} characters")
        return value or None

    def boolean(self, column: str, *, default: bool) -> bool:
        value = self.raw(column).lower()
        if not value:
            return default
        if value in {"true", "1", "yes"}:
            return True
        if value in {"false", "0", "no"}:
            return False
        raise FieldError(f"{column} must be true or false, not {self.raw(column)!r}")

    def date(self, column: str) -> dt.date:
        value = self.raw(column)
        if not value:
            raise FieldError(f"{column} is empty")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
        try:
            # Some exports write a timestamp where OneRoster asks for a date.
            return dt.datetime.fromisoformat(value).date()
        except ValueError:
            raise FieldError(f"{column} is not a date (YYYY-MM-DD): {value!r}") from None

    def optional_date(self, column: str) -> dt.date | None:
        return self.date(column) if self.raw(column) else None

    def date_range(self, start_column: str, end_column: str) -> tuple[dt.date, dt.date]:
        start, end = self.date(start_column), self.date(end_column)
        if end < start:
            raise FieldError(f"{end_column} {end} is before {start_column} {start}")
        return start, end

    def joined_ids(self, column: str, *, max_length: int) -> str:
        """A list field written back space-separated, as it is stored."""
        return _checked_length(column, " ".join(self.ids(column)), max_length)

    def ids(self, column: str, *, max_length: int = 255) -> tuple[str, ...]:
        value = self.raw(column)
        if not value:
            return ()
        return tuple(_checked_length(column, item, max_length) for item in _split_list(value))

    def is_active(self) -> bool:
        """False for a record the SIS marks ``tobedeleted``."""
        status = self.raw("status").lower()
        if status in _ACTIVE_STATUSES:
            return True
        if status in _DELETED_STATUSES:
            return False
        raise FieldError(f"status must be active or tobedeleted, not {self.raw('status')!r}")


def _checked_length(column: str, value: str, max_length: int) -> str:
    if len(value) > max_length:
        raise FieldError(f"{column} is longer than {max_length} characters")
    return value


def _split_list(value: str) -> list[str]:
    return [item for item in _LIST_SEPARATOR.split(value.strip()) if item]


def parse_year_group_names(value: str) -> dict[str, str]:
    """``09=Year 9 10=Year 10`` → {"09": "Year 9", "10": "Year 10"}.

    Names contain spaces, so a name runs until the next ``CODE=`` word.
    """
    words_by_code: dict[str, list[str]] = {}
    current: list[str] | None = None
    for word in value.split():
        code, equals, first = word.partition("=")
        if equals and code:
            current = words_by_code.setdefault(code, [])
            current.clear()
            if first:
                current.append(first)
        elif current is None:
            raise FieldError(_YEAR_GROUP_NAMES_HINT.format(value=value))
        else:
            current.append(word)
    names = {code: " ".join(words) for code, words in words_by_code.items()}
    for code, name in names.items():
        if not name or len(code) > 32 or len(name) > 255:
            raise FieldError(_YEAR_GROUP_NAMES_HINT.format(value=value))
    return names


@dataclass(frozen=True)
class CsvFile:
    """One OneRoster file of a directory and the columns it must have."""

    name: str
    required_columns: Sequence[str]
    # Said after the missing columns, when the reason is not obvious.
    hint: str = ""

    def open(self, directory: Path, refusals: Refusals) -> Iterator[Row] | None:
        """The file's rows, or None when its header refuses the whole file."""
        # Closed here when the header is refused, else by _rows when read to the end.
        handle = (directory / self.name).open(newline="", encoding="utf-8-sig")
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
        except csv.Error as error:
            header = None
            refusals.add(self.name, 1, f"not a CSV file: {error}")
        else:
            if header is None:
                refusals.add(self.name, 1, "the file is empty: a header line is required")
        if header is None:
            handle.close()
            return None
        columns = {name.strip(): index for index, name in enumerate(header)}
        missing = [name for name in self.required_columns if name not in columns]
        if missing:
            handle.close()
            reason = f"missing required column(s): {', '.join(missing)}"
            refusals.add(self.name, 1, f"{reason} ({self.hint})" if self.hint else reason)
            return None
        return self._rows(handle, reader, columns, refusals)

    def _rows(
        self, handle: TextIO, reader: Any, columns: dict[str, int], refusals: Refusals
    ) -> Iterator[Row]:
        width = len(columns)
        with handle:
            line = reader.line_num
            while True:
                start = line + 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as error:
                    refusals.add(self.name, start, f"unreadable CSV: {error}")
                    return
                line = reader.line_num
                if not values:
                    continue  # a blank line
                if len(values) != width:
                    refusals.add(
                        self.name, start, f"{len(values)} fields where the header has {width}"
                    )
                    continue
                yield Row(columns, values, start)

    def exists(self, directory: Path) -> bool:
        return (directory / self.name).is_file()


class Records(Generic[T]):
    """Valid records of one file by sourcedId, and every sourcedId seen.

    A reference to a row that had its own problem is not reported again,
    nor any reference into a file refused as a whole: the first refusal
    names the cause.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.valid: dict[str, T] = {}
        self.seen: dict[str, int] = {}
        self.complete = True

    def rows(self, source: CsvFile, directory: Path, refusals: Refusals) -> Iterator[Row]:
        rows = source.open(directory, refusals)
        if rows is None:
            self.complete = False
            return iter(())
        return rows

    def claim(self, row: Row, refusals: Refusals, column: str = "sourcedId") -> str | None:
        sourced_id = row.raw(column)
        if not sourced_id:
            refusals.add(self.file, row.line, f"{column} is empty")
            return None
        first = self.seen.get(sourced_id)
        if first is not None:
            refusals.add(self.file, row.line, f"duplicate sourcedId {sourced_id!r} (line {first})")
            return None
        self.seen[sourced_id] = row.line
        return sourced_id

    def unknown(self, sourced_id: str) -> bool:
        return self.complete and sourced_id not in self.seen
