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

# A user sees this many problems at once; the rest are counted.
MAX_REFUSALS_SHOWN = 50

# OneRoster lists are comma-separated inside one field; the metadata.*
# extensions of DESIGN 4 are space-separated. Accept either in both.
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

    def has(self, column: str) -> bool:
        return column in self._columns

    def raw(self, column: str) -> str:
        index = self._columns.get(column)
        return "" if index is None else self._values[index].strip()

    def text(self, column: str, *, max_length: int = 255) -> str:
        """A required, non-empty text field."""
        value = self.raw(column)
        if not value:
            raise FieldError(f"{column} is empty")
        return _checked_length(column, value, max_length)

    def optional_text(self, column: str, *, max_length: int = 255) -> str | None:
        value = self.raw(column)
        return _checked_length(column, value, max_length) if value else None

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

    def ids(self, column: str, *, max_length: int = 255) -> tuple[str, ...]:
        value = self.raw(column)
        if not value:
            return ()
        return tuple(_checked_length(column, item, max_length) for item in split_list(value))

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


def split_list(value: str) -> list[str]:
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

    def rows(self, directory: Path, refusals: Refusals) -> Iterator[Row]:
        """The file's rows; a missing column refuses the file (no rows)."""
        path = directory / self.name
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            try:
                header = next(reader, None)
            except csv.Error as error:
                refusals.add(self.name, 1, f"not a CSV file: {error}")
                return
            if header is None:
                refusals.add(self.name, 1, "the file is empty: a header line is required")
                return
            columns = {name.strip(): index for index, name in enumerate(header)}
            missing = [name for name in self.required_columns if name not in columns]
            if missing:
                reason = f"missing required column(s): {', '.join(missing)}"
                refusals.add(self.name, 1, f"{reason} ({self.hint})" if self.hint else reason)
                return
            width = len(header)
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
