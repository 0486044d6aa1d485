"""Reading OneRoster CSV files: rows with line numbers, typed fields, problems.

Nothing here knows what a student is. It turns one file of a directory or a
zip archive into rows whose fields are read by column name, and records every
problem as a ``Problem`` naming the file, the line (1-based, the header is
line 1), the row's sourcedId when it has one, and the reason. A problem skips
its row; a fatal problem (a required file missing or unreadable) refuses the
whole file set (docs/architecture.md section 4).

Files are read as spreadsheets write them: UTF-8 with or without a byte
order mark, CRLF or LF, quoted newlines, blank or duplicate header cells
(columns are read by position; a blank header cell names no column, and of
two cells with one name the first is read), and trailing empty fields
beyond the header.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Generic, TextIO, TypeVar

T = TypeVar("T")

# A terminal shows this many problems; --json lists every one.
MAX_PROBLEMS_SHOWN = 50

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
class Problem:
    """One problem in one place: a skipped row, or why a file set was refused."""

    file: str
    line: int | None
    reason: str
    sourced_id: str | None = None

    def __str__(self) -> str:
        if not self.file:
            return self.reason
        where = self.file if self.line is None else f"{self.file} line {self.line}"
        if self.sourced_id:
            where = f"{where} ({self.sourced_id})"
        return f"{where}: {self.reason}"

    @property
    def place(self) -> str:
        return self.file if self.line is None else f"{self.file} line {self.line}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "sourcedId": self.sourced_id,
            "reason": self.reason,
        }


@dataclass
class Problems:
    """Every problem of a file set: skipped rows, fatal ones, and warnings."""

    skipped: list[Problem] = field(default_factory=list)
    fatal: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def skip(
        self, file: str, line: int | None, reason: str, sourced_id: str | None = None
    ) -> Problem:
        problem = Problem(file, line, reason, sourced_id or None)
        self.skipped.append(problem)
        return problem

    def refuse(self, file: str, line: int | None, reason: str) -> None:
        self.fatal.append(Problem(file, line, reason))

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class FieldError(ValueError):
    """A field that cannot be read; the reader turns it into a Problem."""


class SourceError(Exception):
    """The file set cannot be opened at all (no such directory, not a zip)."""


class Row:
    """One data row of a CSV file, its fields read by column name.

    ``error`` is set for a row that cannot be read as a whole (its field
    count differs from the header's): only its identity columns are read,
    to say which record was skipped.
    """

    __slots__ = ("_columns", "_values", "error", "line")

    def __init__(
        self, columns: dict[str, int], values: list[str], line: int, error: str | None = None
    ) -> None:
        self._columns = columns
        self._values = values
        self.line = line
        self.error = error

    def raw(self, column: str) -> str:
        index = self._columns.get(column)
        if index is None or index >= len(self._values):
            return ""
        value = self._values[index].strip()
        # A quoted line break keeps the file's CRLF: stored as one newline.
        return value.replace("\r\n", "\n") if "\r" in value else value

    def text(self, column: str, *, max_length: int = 255) -> str:
        """A required, non-empty text field."""
        value = self.raw(column)
        if not value:
            raise FieldError(f"{column} is empty")
        if len(value) > max_length:
            raise FieldError(f"{column} is longer than {max_length} characters")
        return value

    def optional_text(self, column: str, *, max_length: int = 255) -> str | None:
        value = self.raw(column)
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


# ---------------------------------------------------------------- where files come from


class Source:
    """The files of one export: a directory, or a zip archive read in place.

    File names are matched without regard to case; in an archive, the CSV
    files may sit in one folder (exports often zip their folder).
    """

    def __init__(self, label: str, names: dict[str, str]) -> None:
        self.label = label
        # lower-case file name → the name to open
        self._names = names

    def exists(self, name: str) -> bool:
        return name.lower() in self._names

    def names(self) -> list[str]:
        return list(self._names.values())

    def hide(self, names: Iterable[str]) -> None:
        """Read as if these files were not there (a manifest says absent)."""
        for name in list(names):
            self._names.pop(name.lower(), None)

    def open(self, name: str) -> TextIO:
        raise NotImplementedError

    def close(self) -> None:
        return None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class DirectorySource(Source):
    def __init__(self, directory: Path) -> None:
        names = {p.name.lower(): p.name for p in directory.iterdir() if p.is_file()}
        super().__init__(str(directory), names)
        self.directory = directory

    def open(self, name: str) -> TextIO:
        path = self.directory / self._names[name.lower()]
        return path.open(newline="", encoding="utf-8-sig")


class ZipSource(Source):
    def __init__(self, path: Path) -> None:
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as error:
            raise SourceError(f"{path}: not a readable zip archive ({error})") from None
        members = [
            info.filename
            for info in archive.infolist()
            if not info.is_dir()
            and info.filename.lower().endswith(".csv")
            and not PurePosixPath(info.filename).name.startswith(".")
            and "__MACOSX" not in info.filename
        ]
        folders = {str(PurePosixPath(member).parent) for member in members}
        if len(folders) > 1:
            archive.close()
            listed = ", ".join(sorted(folders))
            raise SourceError(f"{path}: the archive's CSV files are in several folders ({listed})")
        super().__init__(
            str(path), {PurePosixPath(member).name.lower(): member for member in members}
        )
        self.archive = archive

    def open(self, name: str) -> TextIO:
        raw = self.archive.open(self._names[name.lower()])
        return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")

    def close(self) -> None:
        self.archive.close()


def open_source(path: Path) -> Source:
    """The export at ``path``: a directory of CSV files or a zip archive of them."""
    if path.is_dir():
        return DirectorySource(path)
    if not path.exists():
        raise SourceError(f"{path}: no such directory or zip file")
    if zipfile.is_zipfile(path):
        return ZipSource(path)
    raise SourceError(f"{path}: not a directory or a zip archive of OneRoster CSV files")


# ---------------------------------------------------------------- one file


@dataclass(frozen=True)
class CsvFile:
    """One OneRoster file of an export and the columns it must have."""

    name: str
    required_columns: Sequence[str]
    # Said after the missing columns, when the reason is not obvious.
    hint: str = ""

    def open(
        self, source: Source, problems: Problems, *, optional: bool = False
    ) -> Iterator[Row] | None:
        """The file's rows, or None when it cannot be read as a whole.

        A required file that cannot be read refuses the file set; an
        optional one is left out with a warning (an export of another
        OneRoster version names its columns differently).
        """
        handle = source.open(self.name)
        reader = csv.reader(handle)
        reason: str | None = None
        header: list[str] | None = None
        try:
            header = next(reader, None)
        except csv.Error as error:
            reason = f"not a CSV file: {error}"
        except UnicodeDecodeError:
            reason = _NOT_UTF8
        else:
            if header is None:
                reason = "the file is empty: a header line is required"
        columns: dict[str, int] = {}
        if header is not None and reason is None:
            for index, name in enumerate(header):
                # A blank header cell names no column; of two cells with one
                # name the first is read.
                columns.setdefault(name.strip(), index)
            columns.pop("", None)
            missing = [name for name in self.required_columns if name not in columns]
            if missing:
                reason = f"missing required column(s): {', '.join(missing)}"
                if self.hint:
                    reason = f"{reason} ({self.hint})"
        if reason is not None or header is None:
            handle.close()
            if optional:
                problems.warn(f"{self.name}: {reason}; the file was left out")
            else:
                problems.refuse(self.name, None if reason == _NOT_UTF8 else 1, reason or "")
            return None
        return self._rows(handle, reader, columns, len(header), problems)

    def missing_columns(self, source: Source) -> list[str] | None:
        """The required columns the file's header lacks; None if it cannot be read."""
        try:
            with source.open(self.name) as handle:
                header = next(csv.reader(handle), None)
        except (csv.Error, UnicodeDecodeError):
            return None
        if header is None:
            return None
        names = {name.strip() for name in header}
        return [name for name in self.required_columns if name not in names]

    def _rows(
        self,
        handle: TextIO,
        reader: Iterator[list[str]],
        columns: dict[str, int],
        width: int,
        problems: Problems,
    ) -> Iterator[Row]:
        line_of = reader  # csv.reader keeps line_num
        # Columns after the last named one: a row may stop before them.
        named_width = max(columns.values(), default=-1) + 1
        with handle:
            line = getattr(line_of, "line_num", 1)
            while True:
                start = line + 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as error:
                    problems.refuse(self.name, start, f"unreadable CSV: {error}")
                    return
                except UnicodeDecodeError:
                    # Text is decoded in blocks: no line can be named.
                    problems.refuse(self.name, None, _NOT_UTF8)
                    return
                line = getattr(line_of, "line_num", start)
                if not values or not any(value.strip() for value in values):
                    continue  # a blank line, or a spreadsheet's row of empty cells
                if len(values) > width and not any(v.strip() for v in values[width:]):
                    del values[width:]  # trailing empty fields
                elif named_width <= len(values) < width:
                    values.extend([""] * (width - len(values)))  # blank header cells at the end
                if len(values) != width:
                    problem = f"{len(values)} fields where the header has {width}"
                    yield Row(columns, values, start, problem)
                    continue
                yield Row(columns, values, start)

    def exists(self, source: Source) -> bool:
        return source.exists(self.name)


_NOT_UTF8 = "not UTF-8 text: save the file as CSV UTF-8"


class Records(Generic[T]):
    """Valid records of one file by sourcedId, and those skipped with why.

    ``partial`` is set when a row was skipped without a readable sourcedId:
    the import cannot tell which record it was, so it deactivates nothing
    of this file that the file set leaves out.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.valid: dict[str, T] = {}
        self.seen: dict[str, int] = {}
        self.skipped: dict[str, Problem] = {}
        self.partial = False

    def rows(self, source: CsvFile, files: Source, problems: Problems) -> Iterator[Row]:
        if not source.exists(files):
            return iter(())  # a delta without this file: nothing of it changes
        rows = source.open(files, problems)
        if rows is None:
            self.partial = True
            return iter(())
        return rows

    def claim(self, row: Row, problems: Problems, column: str = "sourcedId") -> str | None:
        """The row's sourcedId, or None when the row is skipped."""
        sourced_id = row.raw(column)
        if row.error is not None:
            if sourced_id and sourced_id not in self.seen:
                self.seen[sourced_id] = row.line
                self.skip(sourced_id, row.line, row.error, problems)
            else:
                self.partial = True
                problems.skip(self.file, row.line, row.error, sourced_id)
            return None
        if not sourced_id:
            self.partial = True
            problems.skip(self.file, row.line, f"{column} is empty")
            return None
        first = self.seen.get(sourced_id)
        if first is not None:
            problems.skip(
                self.file,
                row.line,
                f"duplicate sourcedId (line {first} has it too; that line is read)",
                sourced_id,
            )
            return None
        self.seen[sourced_id] = row.line
        return sourced_id

    def skip(self, sourced_id: str, line: int | None, reason: str, problems: Problems) -> None:
        self.valid.pop(sourced_id, None)
        self.skipped[sourced_id] = problems.skip(self.file, line, reason, sourced_id)

    def skip_because(
        self,
        sourced_id: str,
        line: int | None,
        reason: str,
        cause: Problem | None,
        problems: Problems,
    ) -> None:
        """Skip a record; when it depends on a skipped one, ``cause`` is that
        one's first cause, which records depending on this one cite too."""
        if cause is None:
            self.skip(sourced_id, line, reason, problems)
            return
        self.valid.pop(sourced_id, None)
        problems.skip(self.file, line, reason, sourced_id)
        self.skipped[sourced_id] = cause

    def why_missing(self, sourced_id: str, column: str) -> str:
        """Why a reference to ``sourced_id`` in ``column`` cannot be followed."""
        cause = self.skipped.get(sourced_id)
        if cause is not None:
            return depends_reason(f"{column} {sourced_id!r}", cause)
        return f"{column} {sourced_id!r} is not in {self.file}"


def depends_reason(what: str, cause: Problem) -> str:
    """The reason of a record skipped because one it names was skipped."""
    return f"{what} was skipped (see {cause.place})"
