"""Reading a table a user hands us (CSV or Parquet), or saying in one sentence why we cannot.

Real files are messy: BOMs, latin-1 bytes, "NA"/"null" for missing, ragged rows, a PNG renamed to
.csv. Everything that is not a readable table becomes ``InvalidInput`` naming the file and the fix;
nothing here writes anything.
"""

from __future__ import annotations

import functools
import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mloop.data.compression import compression_of, decompressed
from mloop.data.dates import (
    DATE_FORMATS,
    NAMED_MONTH_DATE,
    NUMERIC_DATE,
    field_format,
    one_format_dates,
    read_dates,
    with_format,
)
from mloop.errors import InvalidInput
from mloop.plural import plural

Format = Literal["csv", "parquet"]
NULL_VALUES = ["", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "#N/A", "<NA>"]
_SNIFF = 64 * 1024
# ``sep`` for values separated by runs of spaces and tabs (aligned columns, R's write.table,
# scikit-learn's and statsmodels' bundled data): one or more of them is one separator.
WHITESPACE = " "
_SEP_NAMES = {"\t": "tab", WHITESPACE: "space"}
_ZIP = b"PK\x03\x04"
_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    _ZIP: "a ZIP archive (or an Excel .xlsx file)",
    b"\x7fELF": "a program",
    b"SQLite format 3": "a SQLite database",
    b"\xd0\xcf\x11\xe0": "an old Excel/Office file",
}


def detect_format(path: Path) -> Format:
    """Parquet by its magic bytes, else CSV; raises ``InvalidInput`` for anything unreadable."""
    if not path.exists():
        raise InvalidInput(f"{path} does not exist; check the path.")
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder, not a CSV or Parquet file.")
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF)
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path} ({exc.strerror}); check its permissions.") from exc
    if head.startswith(b"PAR1"):
        return "parquet"
    codec = compression_of(head)
    if codec is not None:
        head = decompressed(path, codec, limit=_SNIFF)
    _check_text_table(path, head)
    return "csv"


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        head = handle.read(_SNIFF)
    codec = compression_of(head)
    return head if codec is None else decompressed(path, codec, limit=_SNIFF)


def _file_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    codec = compression_of(raw[:16])
    return raw if codec is None else decompressed(path, codec)


def parse_separator(option: str) -> str:
    """What a user types for ``--sep``: one character, ``tab`` or ``\\t``, or ``space`` / a space
    (runs of spaces and tabs, as aligned columns are written); raises ``InvalidInput``."""
    named = {"tab": "\t", "\\t": "\t", "space": WHITESPACE, "whitespace": WHITESPACE}
    value = named.get(option.lower(), option)
    if len(value) != 1 or value in '"\n\r':
        raise InvalidInput(
            f"--sep {option!r} is not a separator; give one character such as ';' or '|', "
            "'tab', or 'space' for values separated by runs of spaces."
        )
    return value


def table_format(path: Path, sep: str | None = None) -> str:
    """The format a version records: ``parquet``, or ``csv sep=X`` with the separator used, so a
    re-read of the stored snapshot splits its values the same way (``read_arrow(sep=...)``)."""
    if detect_format(path) == "parquet":
        return "parquet"
    if sep is None:
        sep = sniff_delimiter(_decoded_head(_head(path)))
    return f"csv sep={_SEP_NAMES.get(sep, sep)}"


def separator_of(fmt: str) -> str | None:
    """The separator a recorded format names; ``None`` (sniff again) for versions recorded
    before the separator was (plain ``csv``) and for Parquet."""
    if not fmt.startswith("csv sep="):
        return None
    name = fmt.removeprefix("csv sep=")
    return {v: k for k, v in _SEP_NAMES.items()}.get(name, name)


def _check_text_table(path: Path, head: bytes) -> None:
    if not head.strip():
        raise InvalidInput(f"{path} is empty; a table needs at least a header row.")
    if head.startswith(_ZIP):
        raise _zip_problem(path)
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise InvalidInput(f"{path} is {what}, not a CSV or Parquet table.")
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        if _looks_like_utf16(head):
            raise InvalidInput(
                f"{path} looks like UTF-16 text without a byte-order mark; re-save it as UTF-8."
            )
        raise InvalidInput(f"{path} is a binary file, not a CSV or Parquet table.")
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:64].lower()
    if start.startswith((b"<!doctype html", b"<html")):
        raise InvalidInput(
            f"{path} is an HTML page, not a CSV or Parquet table (a failed download often "
            "saves one); fetch the file again."
        )
    if start.startswith(b"<?xml"):
        raise InvalidInput(
            f"{path} is an XML document, not a CSV or Parquet table; convert it first, "
            "e.g. `pandas.read_xml(path).to_parquet('table.parquet')`."
        )
    if start[:1] in (b"{", b"["):
        raise InvalidInput(
            f"{path} looks like JSON, not a CSV or Parquet table; convert it first, "
            "e.g. `pandas.read_json(path).to_parquet('table.parquet')`."
        )


def _zip_problem(path: Path) -> InvalidInput:
    """The sentence for a ZIP file, from its list of members: an Excel workbook (.xlsx is a
    ZIP) says how to convert it, an archive names the table inside to unzip, where "a ZIP
    archive (or an Excel file)" left the user to find out which."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [i.filename for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError):
        members = []
    if any(name.startswith("xl/") for name in members):
        return InvalidInput(
            f"{path} is an Excel workbook, not a CSV or Parquet table; save the sheet as CSV, "
            "or convert it: `pandas.read_excel(path).to_parquet('table.parquet')`."
        )
    tables = [n for n in members if n.lower().endswith((".csv", ".tsv", ".txt", ".parquet"))]
    if tables:
        more = f" and {plural(len(tables) - 1, 'more table')}" if len(tables) > 1 else ""
        return InvalidInput(
            f"{path} is a ZIP archive holding {tables[0]}{more}, not a table itself; unzip it "
            "and give the file inside."
        )
    return InvalidInput(f"{path} is {_BINARY_MAGIC[_ZIP]}, not a CSV or Parquet table.")


def _looks_like_utf16(head: bytes) -> bool:
    """Mostly-ASCII UTF-16 has a zero in every other byte and none in the rest."""
    sample = head[: 4096 - 4096 % 2]
    even, odd = sample[0::2], sample[1::2]
    return len(sample) >= 8 and any(
        a.count(0) >= 0.8 * len(a) and b.count(0) == 0 for a, b in ((even, odd), (odd, even))
    )


def _decoded_head(head: bytes) -> bytes:
    """A file's first bytes as ``_decode`` would give them, for sniffing: they may end inside a
    character, and a non-UTF-8 file is refused later, by the full read."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", "ignore").encode("utf-8")
    return head.removeprefix(b"\xef\xbb\xbf")


def _decode(path: Path, raw: bytes) -> bytes:
    """UTF-8 (with or without BOM) as is; UTF-16 with a BOM re-encoded; anything else refused."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{path} starts like UTF-16 but does not decode; re-save it as UTF-8."
            ) from exc
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        codec = legacy_encoding(raw)
        if codec is not None:
            return raw.decode(codec).encode("utf-8")
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"{path} is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}, line {line}) "
            "and its encoding could not be told; re-save it as UTF-8, e.g. "
            "`iconv -f ENCODING -t utf-8`."
        ) from exc
    return raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw


_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
# The encodings tables are written in when not UTF-8, most common first; charset-normalizer
# picks among these only (out of all it knows, a few accented words read "best" as Urdu).
LEGACY_ENCODINGS = (
    "cp1252", "latin_1", "cp1250", "cp1251", "cp1253", "cp1254", "cp1257", "iso8859_15",
    "koi8_r", "shift_jis", "euc_jp", "gb18030", "big5", "euc_kr", "cp1255", "cp1256", "cp874",
    "mac_roman",
)  # fmt: skip
WESTERN = ("cp1252", "latin_1", "iso8859_15", "mac_roman")
# A letter beside a symbol that is not one ("£ód", "³ó") is text read in the wrong code page.
_LETTER_BY_SYMBOL = re.compile(
    r"[^\W\d_][^\x00-\x7f\w“”‘’„‚«»‹›–—…·¿¡°\xa0]|[^\x00-\x7f\w“”‘’„‚«»‹›–—…·¿¡°\xa0][^\W\d_]"
)


def legacy_encoding(raw: bytes) -> str | None:
    """The 8-bit or multi-byte encoding a file that is not UTF-8 was written in (cp1252 from
    Excel on Windows, latin-1, cp1250, cp1251, Shift-JIS…), told from the lines holding
    non-ASCII bytes, when the whole file decodes with it; else None.

    Public tables still come this way, and ``iconv`` is one more step that loses users. Western
    European text (cp1252) is the most common and the hardest to tell apart by statistics from a
    few accented words, so it wins whenever its reading is plausible: its accented letters sit
    among plain ones, and no letter touches a symbol. The guess depends on the bytes alone, so
    every reader of a file (a snapshot re-read at training, a prediction file) reads it alike."""
    lines = re.finditer(rb"[^\n]*[\x80-\xff][^\n]*\n?", raw)
    sample = b"".join(match.group() for _, match in zip(range(2000), lines, strict=False))
    valid = len(_UTF8_SEQUENCE.findall(sample))
    if valid and valid >= sample.decode("utf-8", "replace").count("\ufffd"):
        return None  # UTF-8 text with a few stray bytes: any one reading would garble the rest
    for western in WESTERN[:2]:
        try:
            text = sample.decode(western)
        except UnicodeDecodeError:
            continue
        letters = [c for c in text if c.isalpha()]
        accented = sum(1 for c in letters if not c.isascii())
        if accented <= 0.5 * len(letters) and not _LETTER_BY_SYMBOL.search(text):
            return _whole(raw, western)
        break
    from charset_normalizer import from_bytes

    others = [e for e in LEGACY_ENCODINGS if e not in WESTERN]  # its reading was implausible
    for match in from_bytes(sample[: 1 << 20], cp_isolation=others):  # the likeliest first
        if not _LETTER_BY_SYMBOL.search(str(match)):
            return _whole(raw, str(match.encoding))
    return None


def _whole(raw: bytes, codec: str) -> str | None:
    try:
        raw.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None
    return codec


def _without_trailing_blank_columns(table: pa.Table) -> pa.Table:
    """A delimiter at the end of every line (Excel and many exports write ``a,b,,``) makes
    unnamed columns with no values at the end of the table: they are not columns. An unnamed
    column holding values stays, for ``_check_columns`` to name."""
    named = len(trailing_named(table.column_names))
    if any(table.column(i).null_count < len(table) for i in range(named, table.num_columns)):
        return table
    return table.select(range(named))


def trailing_named(names: list[str]) -> list[str]:
    """``names`` without the unnamed ones at the end (from a delimiter ending every line)."""
    keep = len(names)
    while keep and not str(names[keep - 1]).strip():
        keep -= 1
    return names[:keep]


_Rows = TypeVar("_Rows", pa.Table, pa.RecordBatch)


class EmptyRows:
    """Counts the empty rows left out of a CSV: rows whose every cell is empty (``,,,``, which
    Excel writes below a table whose last rows were cleared) or a missing-value spelling. Such a
    row holds no value to learn from, profile or score, yet it was read as a row of nulls: a
    4-row export read as 6 rows, each column a third missing, and ``mloop predict`` rejected
    them as rows missing required values. A row with any value is kept as it is.

    Where they were is kept too, as runs (a block of ``,,,`` is one run however long), so a row
    named in a message is numbered as in the user's file (``in_file``), not as the Nth row kept:
    "row 57" is the 57th row after the header, as a spreadsheet shows the file (blank lines
    aside: the CSV parser skips them before any row is counted)."""

    def __init__(self) -> None:
        self.count = 0
        self._read = 0  # rows given to ``drop`` so far, empty ones included
        self._starts: list[np.ndarray] = []  # 0-based row read where each run of empty rows starts
        self._lengths: list[np.ndarray] = []

    def drop(self, rows: _Rows) -> _Rows:
        """``rows`` (the next rows read, in order) without the empty ones, which are counted."""
        first = self._read
        self._read += rows.num_rows
        if not rows.num_rows or any(column.null_count == 0 for column in rows.columns):
            return rows  # a column without a gap: no row can be empty (the common case)
        some = functools.reduce(pc.or_, [pc.is_valid(column) for column in rows.columns])
        kept = rows.filter(some)
        if kept.num_rows < rows.num_rows:
            self.count += rows.num_rows - kept.num_rows
            empty = pc.indices_nonzero(pc.invert(some)).to_numpy().astype(np.int64) + first
            starts = np.flatnonzero(np.diff(empty, prepend=-2) != 1)
            self._starts.append(empty[starts])
            self._lengths.append(np.diff(starts, append=len(empty)))
        return kept

    def in_file(self, numbers: np.ndarray) -> np.ndarray:
        """Row numbers counted among the rows kept (1 is the first) as counted among the rows
        read, empty ones included: what the user's file calls them."""
        numbers = np.asarray(numbers, dtype=np.int64)
        if not self._starts:
            return numbers
        if len(self._starts) > 1:  # once per batch of new runs, not once per call
            self._starts = [np.concatenate(self._starts)]
            self._lengths = [np.concatenate(self._lengths)]
        starts, lengths = self._starts[0], self._lengths[0]
        skipped = np.concatenate([[0], np.cumsum(lengths)])
        kept_before = starts - skipped[:-1]  # rows kept before each run
        in_file: np.ndarray = numbers + skipped[np.searchsorted(kept_before, numbers - 1, "right")]
        return in_file


def empty_rows_note(path: Path, count: int, *, scored: bool = False) -> str | None:
    """What a command tells the user, once, of the empty rows it left out; ``None`` for none.
    ``scored``: said of a file scored into an output, which has no row for them."""
    if not count:
        return None
    return f"{path}: skipped {plural(count, 'empty row')} (no value between the separators)" + (
        "; the output has no row for them" if scored else ""
    )


INDEX_COLUMN = "index"


def header_names(names: list[str]) -> list[str]:
    """The column names a CSV header gives, as mloop names them: without the spaces around
    them (``age, workclass`` is how UCI files and ``", ".join`` write a header, and no one
    types ``--target " income"``), and a blank first one named (``with_index_named``)."""
    return with_index_named([str(name).strip() for name in names])


def with_index_named(names: list[str]) -> list[str]:
    """``names`` with a blank first one named ``index``: the header pandas' ``to_csv`` writes
    for a frame's index (and R's ``write.csv`` for its row names) leaves that column unnamed.
    Its values are kept: an index of dates or keys is data, and one of row numbers is left out
    of a model's features like any other row-number column."""
    if len(names) < 2 or str(names[0]).strip() or not all(str(n).strip() for n in names[1:]):
        return names
    name, suffix = INDEX_COLUMN, 1
    while name in names:
        name, suffix = f"{INDEX_COLUMN}_{suffix}", suffix + 1
    return [name, *names[1:]]


def _check_columns(path: Path, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInput(
                f"{path} has two columns named {name!r}; column names must be unique."
            )
        seen.add(name)
    if any(not str(n).strip() for n in names):
        raise InvalidInput(f"{path} has a column with an empty name; give every column a header.")


def sniff_delimiter(data: bytes) -> str:
    """Comma unless the header line clearly uses ``;``, tab or ``|`` (European and TSV exports),
    or the file is columns separated by spaces (``WHITESPACE``, see ``_looks_whitespace_separated``)."""
    lines = data[:_SNIFF].decode("utf-8", errors="replace").splitlines()
    if len(data) > _SNIFF:
        lines = lines[:-1]  # cut off mid-line
    header = lines[0] if lines else ""
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] > counts[","]:
        return best
    if counts[","] == 0 and _looks_whitespace_separated(lines):
        return WHITESPACE
    return ","


def _looks_whitespace_separated(lines: list[str]) -> bool:
    """Every sampled line splits on whitespace into the same number of
    fields, and either there are three or more or the columns are aligned (runs of spaces): a
    one-column file of two-word names ("full name", "Ada Lovelace") stays one column."""
    sample = [line for line in lines[:200] if line.strip()]
    widths = {len(line.split()) for line in sample}
    if len(sample) < 2 or len(widths) != 1 or (width := widths.pop()) < 2:
        return False
    return width >= 3 or any(re.search(r"\S[ \t]{2,}\S", line) for line in sample)


def _split_on_whitespace(data: bytes) -> bytes:
    """Runs of spaces and tabs as one tab, none at either end of a line: what Arrow can split."""
    data = re.sub(rb"(?m)^[ \t]+|[ \t]+(?=\r?$)", b"", data)
    return re.sub(rb"[ \t]+", b"\t", data)


def _read_csv(
    path: Path,
    sep: str | None = None,
    empty: EmptyRows | None = None,
    formats: Mapping[str, str] | None = None,
) -> pa.Table:
    data = _decode(path, _file_bytes(path))
    if b"\n" not in data and b"\r" not in data:
        data += b"\n"  # a lone header line: Arrow reads it as an empty file otherwise
    delimiter = sniff_delimiter(data) if sep is None else sep
    if delimiter == WHITESPACE:
        data, delimiter = _split_on_whitespace(data), "\t"
    parse = _parse_options(data, delimiter)
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),  # zero-copy: a BytesIO is copied block by block
            read_options=pacsv.ReadOptions(block_size=16 << 20),
            parse_options=parse,
            convert_options=_convert_options(),
        )
    except pa.ArrowInvalid as exc:
        raise csv_error(path, exc) from exc
    table = _without_trailing_blank_columns(table)
    names = header_names(table.column_names)
    _check_columns(path, names)
    table = _keep_leading_zeros(data, table, parse).rename_columns(names)
    del data  # the file's bytes are not needed once parsed: a lower peak for big files
    # before refining: a "-" placeholder made missing there was still typed by someone
    table = (empty or EmptyRows()).drop(table)
    return _refine_text_columns(table, delimiter, formats)


def csv_error(path: Path, exc: pa.ArrowException) -> InvalidInput:
    """The sentence for a CSV Arrow cannot parse (also for one read in chunks, data/chunks.py)."""
    message = str(exc).split("\n")[0]
    counts = re.search(r"Expected 1 columns, got (\d+)", message)
    if counts:
        # a header of one field above wider rows: a title or a note above the table (as
        # spreadsheets export a report), not rows with a stray delimiter
        return InvalidInput(
            f"{path} has one field in its first line and {counts.group(1)} in later rows "
            f"({message}); if a title or notes sit above the header, delete those lines so "
            "the header is the first line (else quote values that hold the delimiter)."
        )
    if "Expected" in message and "columns" in message:
        return InvalidInput(
            f"{path} has rows with a different number of fields than the header ({message}); "
            "fix those rows, or quote fields that hold the delimiter or a line break."
        )
    if "Empty CSV" in message:
        return InvalidInput(f"{path} is empty; a table needs at least a header row.")
    return InvalidInput(f"{path} is not a readable CSV ({message}).")


def _convert_options() -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        null_values=NULL_VALUES,
        strings_can_be_null=True,
        true_values=["true", "True", "TRUE"],
        false_values=["false", "False", "FALSE"],
        timestamp_parsers=[pacsv.ISO8601],
    )


def _parse_options(data: bytes, delimiter: str) -> pacsv.ParseOptions:
    """Line breaks inside values only when the file quotes anything: a break can only sit in a
    quoted value, and Arrow parses about twice as fast when it need not look for one."""
    return pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=b'"' in data)


def _may_have_leading_zeros(
    data: bytes | np.ndarray, delimiter: str, *, step: int = 1 << 22
) -> bool:
    """Whether some field may start with ``[+-]?0<digit>``: a cheap superset of the exact check
    in ``_keep_leading_zeros`` (which parses the file again), scanned ``step`` bytes at a time."""
    view = np.frombuffer(data, dtype=np.uint8)
    starts = np.frombuffer(b'\n\r"' + delimiter.encode(), dtype=np.uint8)
    for begin in range(0, len(view), step):
        low = max(begin - 2, 0)
        chunk = view[low : begin + step + 1]
        after = chunk[1:]
        zeros = np.flatnonzero((chunk[:-1] == ord("0")) & (after >= ord("0")) & (after <= ord("9")))
        zeros = zeros[zeros + low >= begin] + low  # the 2 overlapping bytes were seen already
        if not len(zeros):
            continue
        if zeros[0] == 0:
            return True
        before = view[zeros - 1]
        if np.isin(before, starts).any():
            return True
        signed = zeros[(before == ord("+")) | (before == ord("-"))]
        if len(signed) and (signed[0] == 1 or np.isin(view[signed[signed >= 2] - 2], starts).any()):
            return True
    return False


def _keep_leading_zeros(data: bytes, table: pa.Table, parse: pacsv.ParseOptions) -> pa.Table:
    """Integer-looking columns with a leading zero anywhere (zip codes, ids) stay text."""
    integer_columns = [f.name for f in table.schema if pa.types.is_integer(f.type)]
    if not integer_columns or not _may_have_leading_zeros(data, parse.delimiter):
        return table
    raw = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(block_size=16 << 20),
        parse_options=parse,
        convert_options=pacsv.ConvertOptions(
            include_columns=integer_columns,
            column_types=dict.fromkeys(integer_columns, pa.string()),
            null_values=NULL_VALUES,
            strings_can_be_null=True,
        ),
    )
    for name in integer_columns:
        text = raw.column(name)
        if has_leading_zero(text):
            table = table.set_column(table.schema.get_field_index(name), name, text)
    return table


# Missing values as people type them in a column of numbers (see _numbers_with_placeholders),
# and a value of spaces only (IBM's Telco churn writes " " for a new customer's TotalCharges).
_PLACEHOLDERS = pa.array(["-", "--", "?", "None"])
_BLANK = r"^\s+$"
_LEADING_ZERO = r"^[+-]?0[0-9]"
_PLACEHOLDER_TYPES = (pa.int64(), pa.float64(), pa.timestamp("s"), pa.timestamp("ns"))
_UTC_SUFFIXED = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)? ?(UTC|GMT)$"
_CURRENCY = "$€£¥₹"
_UNITS_AFTER = _CURRENCY + "%"
_UNIT_BEFORE = (
    rf"^(?P<sign>[+-]?)\s*(?P<unit>[{_CURRENCY}])\s*(?P<inner>[+-]?)(?P<number>\d[\d.,]*)$"
)
_UNIT_AFTER = rf"^(?P<sign>[+-]?)(?P<number>\d[\d.,]*)\s*(?P<unit>[{_UNITS_AFTER}])$"
_LIKE_UNITS = rf"^[+-]?\s*[{_CURRENCY}]\s*[+-]?\d[\d.,]*$|^[+-]?\d[\d.,]*\s*[{_UNITS_AFTER}]$"
_THOUSANDS = r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$|^[+-]?\d+(\.\d+)?$"
_DECIMAL_COMMA = r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$|^[+-]?\d+(,\d+)?$"
# The date patterns for Arrow's RE2, loosened to a superset of what pandas matches after a strip:
# any Unicode digit for \d, any space or control character around the value.
_AROUND = r"[\s\p{Z}\p{Cc}]*"
_LIKE_DATES = tuple(
    f"^{_AROUND}(?:{p.strip('^$')}){_AROUND}$".replace(r"\d", r"\p{Nd}")
    for p in (NUMERIC_DATE, NAMED_MONTH_DATE)
)


def _refine_text_columns(
    table: pa.Table, delimiter: str, formats: Mapping[str, str] | None = None
) -> pa.Table:
    """``refine_text_columns`` on the few text columns Arrow cannot rule out at once: only a
    column with a comma, or whose every value has a currency or percent sign, may be a local
    number, only one whose every value looks like a date may be a date, so a big file's ids and
    codes are never copied into Python strings. A column with ``-``, ``?`` or ``None`` among
    its values is tried without them first. A column named
    in ``formats`` (a schema's, see data/dates.py) is read in its format or stays text; a
    column read as dates records its format in its field's metadata."""
    for index, field in enumerate(table.schema):
        column = table.column(index)
        if not is_text(field.type) or column.null_count == len(column):
            continue
        trimmed = trimmed_text(column)
        if trimmed is not None:
            column = trimmed
            table = table.set_column(index, field.name, column)
            if column.null_count == len(column):
                continue
        read_as = (formats or {}).get(field.name)
        if read_as is not None:
            typed = _in_format(column, read_as)
        else:
            typed, read_as = _typed(column, delimiter, trimmed is not None)
        if typed is not None:
            table = table.set_column(
                index, with_format(pa.field(field.name, typed.type), read_as), typed
            )
    return table


def _typed(
    column: pa.ChunkedArray, delimiter: str, trimmed: bool
) -> tuple[pa.Array | pa.ChunkedArray | None, str | None]:
    masked = _without_placeholders(column)
    if masked is not None:
        typed = _cast(masked, _PLACEHOLDER_TYPES)
        if typed is not None:
            return typed, None
        refined = _refined(masked, delimiter)
        if refined[0] is not None:
            return refined
    if trimmed and not has_leading_zero(column):
        typed = _cast(column, _PLACEHOLDER_TYPES)  # what Arrow infers for untrimmed values
        if typed is not None:
            return typed, None
    return _refined(column, delimiter)


def in_known_formats(table: pa.Table, formats: Mapping[str, str]) -> pa.Table:
    """``table`` with each column it left as text read in the date format ``formats`` knows
    for it, when every value fits: a later version of a dataset of only ambiguous dates
    (``01/02/24``) reads them as the dataset's first version did, instead of staying text. A
    column the table read otherwise (its own unambiguous format) is left as it is."""
    for name, fmt in formats.items():
        if name not in table.column_names:
            continue
        index = table.column_names.index(name)
        column = table.column(index)
        if not is_text(column.type) or column.null_count == len(column):
            continue
        typed = _in_format(column, fmt)
        if typed is not None:
            table = table.set_column(index, with_format(pa.field(name, typed.type), fmt), typed)
    return table


def _in_format(column: pa.ChunkedArray, fmt: str) -> pa.Array | None:
    """The column's dates read in ``fmt`` when every value (placeholders aside) fits it, else
    None: it stays text, and the validator names the values that do not fit."""
    for candidate in (_without_placeholders(column), column):
        if candidate is None:
            continue
        text = to_pandas(pa.table({"c": candidate}))["c"]
        dates = read_dates(text, fmt)
        if dates.notna().sum() == text.notna().sum():
            return pa.Array.from_pandas(dates)
    return None


_NULLS = pa.array(NULL_VALUES)


def trimmed_text(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The column without the spaces around its values, the null spellings among them as
    nulls, when every value starts with a space: a file separated by ``", "`` (UCI's adult,
    ``", ".join``) gives categories `` Private`` a request spelling ``Private`` would break,
    and a missing `` ?`` or `` NA`` that keeps a number column text. Else None: a value's own
    leading space, in a column of others without one, is the value's."""
    if not pc.all(pc.match_substring_regex(column, r"^\s")).as_py():
        return None
    trimmed = pc.utf8_trim_whitespace(column)
    return pc.if_else(pc.is_in(trimmed, value_set=_NULLS), pa.scalar(None, column.type), trimmed)


def has_leading_zero(column: pa.ChunkedArray | pa.Array) -> bool:
    """A value like ``007`` or ``-01``: a zip code or an id, which stays text."""
    return bool(pc.any(pc.match_substring_regex(column, _LEADING_ZERO)).as_py())


def _refined(
    column: pa.ChunkedArray, delimiter: str
) -> tuple[pa.Array | pa.ChunkedArray | None, str | None]:
    """The text column as UTC stamps, local numbers or local dates (and their format), or None."""
    stamps = _utc_suffixed_stamps(column)
    if stamps is not None:
        return stamps, None
    commas = pc.any(pc.match_substring(column, ",")).as_py()
    commas_or_dates = commas or any(
        pc.all(pc.match_substring_regex(column, p)).as_py() for p in _LIKE_DATES
    )
    units = not commas_or_dates and _first_has_unit(column)
    if not commas_or_dates and not (
        units and pc.all(pc.match_substring_regex(column, _LIKE_UNITS)).as_py()
    ):
        return None, None
    text = to_pandas(pa.table({"c": column}))["c"]
    refined = _refined_text(text, delimiter)
    if refined is None:
        return None, None
    values, fmt = refined
    return pa.Array.from_pandas(values), fmt


def _first_has_unit(column: pa.ChunkedArray) -> bool:
    """The first value starts or ends with a currency or percent sign: only then is the whole
    column matched against ``_LIKE_UNITS`` (a big file's ids and free text are not)."""
    return _has_unit(
        next((c.drop_null()[0].as_py() for c in column.chunks if c.null_count < len(c)), "")
    )


def _has_unit(value: str) -> bool:
    """``value`` starts (after its sign) with a currency sign or ends with one or ``%``."""
    text = value.strip().lstrip("+-")
    return bool(text) and (text[0] in _CURRENCY or text[-1] in _UNITS_AFTER)


def _without_placeholders(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The column with ``-``, ``?``, ``None`` and values of spaces only as nulls, when it has
    any and something else (zip codes with a leading zero stay text). Used only if the rest then
    reads as numbers or dates: elsewhere (a category "None", a strand "-") these are values."""
    placeholder = pc.or_(
        pc.is_in(column, value_set=_PLACEHOLDERS), pc.match_substring_regex(column, _BLANK)
    )
    if not pc.any(placeholder).as_py():
        return None
    rest = pc.if_else(placeholder, pa.scalar(None, column.type), column)
    if rest.null_count == len(rest) or has_leading_zero(rest):
        return None
    return rest


def _cast(column: pa.ChunkedArray, kinds: tuple[pa.DataType, ...]) -> pa.ChunkedArray | None:
    for kind in kinds:
        try:
            return column.cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return None


def _utc_suffixed_stamps(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """ISO date-times ending in `` UTC`` or `` GMT`` (as BigQuery and many logs write them), as
    UTC timestamps like those ending in ``Z``. The first value is looked at before the column."""
    first = next((c.drop_null()[0].as_py() for c in column.chunks if c.null_count < len(c)), None)
    if first is None or not re.fullmatch(_UTC_SUFFIXED, first):
        return None
    if not pc.all(pc.match_substring_regex(column, _UTC_SUFFIXED)).as_py():
        return None
    zoned = pc.replace_substring_regex(column, r"\s*(UTC|GMT)$", "Z")
    return _cast(zoned, (pa.timestamp("s", "UTC"), pa.timestamp("ns", "UTC")))


def refine_text_columns(frame: pd.DataFrame, *, delimiter: str = ",") -> pd.DataFrame:
    """Text columns that are really numbers with local separators, or dates in a local format.

    A column converts only when every non-missing value fits one reading, so ids and free text
    are untouched. ``1,037`` is a thousand and thirty-seven in a comma-separated file and one
    point zero three seven in a ``;`` file (where the comma is the decimal mark by convention);
    ``24,6`` is a decimal anywhere. Dates take one format per column: a column whose values read
    validly both day-first and month-first with different results stays text rather than mixing.
    """
    for name in frame.columns:
        refined = _refined_text(frame[name], delimiter)
        if refined is not None:
            frame[name] = refined[0]
    return frame


def _refined_text(column: pd.Series, delimiter: str) -> tuple[pd.Series, str | None] | None:
    """A column of text as local numbers, or as dates and their format; None if neither."""
    if column.dtype != object:
        return None
    present = column.dropna()
    if present.empty or not all(isinstance(v, str) for v in present.head(100)):
        return None
    text = present.astype(str).str.strip()
    number = _local_number(text, delimiter)
    if number is not None:
        return number.reindex(column.index), None
    dates = one_format_dates(text)
    if dates is None:
        return None
    return dates[0].reindex(column.index), dates[1]


def _local_number(text: pd.Series, delimiter: str) -> pd.Series | None:
    bare = _without_unit(text)
    if bare is not None:
        text = bare
    elif not text.str.contains(",", regex=False).any():
        return None
    thousands = bool(text.str.fullmatch(_THOUSANDS).all())
    decimal_comma = bool(text.str.fullmatch(_DECIMAL_COMMA).all())
    if decimal_comma and (not thousands or delimiter == ";"):
        cleaned = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    elif thousands:
        cleaned = text.str.replace(",", "", regex=False)
    else:
        return None
    return pd.to_numeric(cleaned, errors="coerce")


def _without_unit(text: pd.Series) -> pd.Series | None:
    """The numbers of a column writing every value with one currency symbol, before or after
    it (``$1,234.50``, ``-$5``, ``12,50 €``), or a percent sign after it (``96%``), as Inside
    Airbnb's listings and most spreadsheet exports do; the sign removed (``96%`` is 96, as
    written). None when the values do not all carry the same one: ``$5`` beside ``€5`` is text."""
    if not _has_unit(text.iloc[0]):
        return None
    for pattern in (_UNIT_BEFORE, _UNIT_AFTER):
        parts = text.str.extract(pattern)
        units = parts["unit"]
        if units.notna().all() and units.nunique() == 1:
            inner = parts["inner"].fillna("") if "inner" in parts else ""
            return parts["sign"].fillna("") + inner + parts["number"]
    return None


def is_text(kind: pa.DataType) -> bool:
    """Arrow text that becomes a column of Python ``str``/``None`` in the frame."""
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def to_pandas(table: pa.Table, *, consume: bool = False) -> pd.DataFrame:
    """The frame mloop works on. With ``consume`` the table's buffers are freed while converting,
    which lowers the peak on a big file by about the table's size: never use it afterwards."""
    frame: pd.DataFrame = table.to_pandas(
        self_destruct=consume,
        split_blocks=True,
        date_as_object=False,
        types_mapper={pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}.get,
    )
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.StringDtype):
            frame[name] = column.astype(object).where(column.notna(), None)
    return frame


def frame_columns(table: pa.Table) -> Iterator[tuple[str, pa.ChunkedArray | pd.Series]] | None:
    """The columns of ``to_pandas(table)`` one at a time, so the whole frame is never in memory:
    a column that would hold Python strings stays Arrow text (profiled with Arrow compute), any
    other is converted alone (numbers and dates convert cheaply). ``None`` when the table's
    pandas metadata makes the frame's columns differ from the table's (a restored index,
    non-text names): convert the whole table then."""
    empty = to_pandas(table.slice(0, 0))
    if list(empty.columns) != table.column_names:
        return None
    return _frame_columns(table, empty)


def _frame_columns(
    table: pa.Table, empty: pd.DataFrame
) -> Iterator[tuple[str, pa.ChunkedArray | pd.Series]]:
    for index, name in enumerate(table.column_names):
        column = table.column(index)
        if is_text(column.type) and empty[name].dtype == object:
            yield name, column
        else:
            yield name, to_pandas(table.select([index]))[name]


def _read_parquet(path: Path, *, text_as_dictionary: bool = False) -> pa.Table:
    try:
        text = None
        if text_as_dictionary:
            text = [f.name for f in pq.read_schema(path) if is_text(f.type)]
        table = pq.read_table(path, read_dictionary=text or None)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(
            f"{path} looks like Parquet but cannot be read ({str(exc).splitlines()[0]})."
        ) from exc
    table = _index_as_columns(table)
    _check_columns(path, table.column_names)
    return _flat_columns(path, table)


_UNNAMED_INDEX = re.compile(r"__index_level_\d+__")


def _index_as_columns(table: pa.Table) -> pa.Table:
    """A frame's index that pandas' ``to_parquet`` stored is a column like the others: a named
    one (``set_index("store")``, a time series' dates) would otherwise vanish into the frame's
    index, and with it from the schema, the features and ``--target`` while the file has it, as
    a CSV's index column does not. An unnamed one (the row numbers left by a filter) is not the
    user's data and is dropped."""
    meta = table.schema.pandas_metadata
    if not meta or not meta.get("index_columns"):
        return table
    unnamed = [n for n in table.column_names if _UNNAMED_INDEX.fullmatch(n)]
    meta = {
        **meta,
        "index_columns": [],
        "columns": [c for c in meta.get("columns", []) if c.get("field_name") not in unnamed],
    }
    return table.drop_columns(unnamed).replace_schema_metadata(
        {**(table.schema.metadata or {}), b"pandas": json.dumps(meta).encode()}
    )


def _flat_columns(path: Path, table: pa.Table) -> pa.Table:
    """Decimals become floats (models and profiles need numbers); nested values are refused."""
    for index, field in enumerate(table.schema):
        kind = field.type
        if pa.types.is_decimal(kind):
            table = table.set_column(index, field.name, table.column(index).cast(pa.float64()))
        elif pa.types.is_nested(kind) or (
            pa.types.is_dictionary(kind) and pa.types.is_nested(kind.value_type)
        ):
            raise InvalidInput(
                f"{path} column {field.name!r} holds nested values ({kind}); mloop tables hold one "
                "value per cell: flatten or drop that column first."
            )
    return table


def read_arrow(
    path: Path,
    *,
    sep: str | None = None,
    text_as_dictionary: bool = False,
    empty: EmptyRows | None = None,
    formats: Mapping[str, str] | None = None,
) -> pa.Table:
    """Read a CSV or Parquet file as the Arrow table that ``to_pandas`` makes mloop's frame of;
    raises ``InvalidInput`` with one sentence for anything that is not a table. ``sep``: the
    CSV separator (``WHITESPACE`` for runs of spaces); sniffed from the header when ``None``.
    A CSV's empty rows are left out (``EmptyRows``), counted in ``empty`` when given.

    ``text_as_dictionary`` keeps Parquet's dictionary-encoded text as it is stored (codes and a
    small dictionary) instead of one string per row: faster to read, and the validator checks
    each distinct value once. Only for callers that handle dictionary columns.

    ``formats`` (a schema's ``date_formats``) reads those columns' dates in the format their
    dataset was read in, so a later file means the same dates as the training file.
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "parquet":
        table = _read_parquet(path, text_as_dictionary=text_as_dictionary)
    else:
        table = _read_csv(path, sep, empty, formats)
    _check_shape(path, table.num_columns, table.num_rows)
    return table


def one_column_warning(path: Path, table: pa.Table) -> str | None:
    """A sentence when a file read as one column looks wider (its header holds separators,
    three or more words or aligned ones), since a misread separator otherwise passes silently as one text column."""
    if table.num_columns != 1:
        return None
    header = table.column_names[0]
    candidates = [d for d in (",", ";", "\t", "|") if d in header]
    aligned = re.search(r"\S[ \t]{2,}\S", header) is not None
    if not candidates and len(header.split()) < 3 and not aligned:
        return None  # "full name" is a fine header for one column
    sep = _SEP_NAMES.get(candidates[0], candidates[0]) if candidates else "space"
    return (
        f"{path} was read as one column named {header[:60]!r}; if its values are separated by "
        f"{'spaces' if sep == 'space' else repr(sep)}, add it with --sep {sep!r}."
    )


def header_warning(path: Path, names: list[str]) -> str | None:
    """A sentence when every column name is a number and one has a fraction (``59, 2, 32.1``):
    the file has no header line, and its first row of data became the column names."""
    if len(names) < 2:
        return None
    try:
        [float(name) for name in names]
    except ValueError:
        return None
    if all(re.fullmatch(r"[+-]?\d+", name.strip()) for name in names):
        return None  # 2019,2020,2021: whole numbers are plausible names (years, codes)
    shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
    return (
        f"{path}'s first line ({shown}) looks like data, not column names; mloop read it as the "
        "header, so that row is not in the table: add a header line naming the columns and add "
        "the file again."
    )


def read_table(
    path: Path, *, sep: str | None = None, empty: EmptyRows | None = None
) -> pd.DataFrame:
    """Read a CSV or Parquet file; raises ``InvalidInput`` with one sentence for anything else.
    A CSV's empty rows are left out, counted in ``empty`` when given (see ``read_arrow``)."""
    path = Path(path)
    table = read_arrow(path, sep=sep, empty=empty)
    formats = {f.name: fmt for f in table.schema if (fmt := field_format(f)) is not None}
    frame = to_pandas(table, consume=True)
    del table
    _check_shape(path, frame.shape[1], len(frame))  # pandas metadata may make an index of a column
    if formats:  # for infer_schema: the frame's dates no longer say how they were written
        frame.attrs[DATE_FORMATS] = formats
    return frame


def _check_shape(path: Path, columns: int, rows: int) -> None:
    if columns == 0:
        raise InvalidInput(f"{path} has no columns; a table needs a header row.")
    if rows == 0:
        raise InvalidInput(
            f"{path} has a header but no data rows; a table needs at least one row of values."
        )


# Bytes Arrow's streaming CSV reader takes at a time (batch scoring reads its chunks with it).
STREAM_BLOCK = 4 << 20
