"""Rendering shared by every command: Rich tables for people, ``--json`` for programs.

Commands import services lazily (inside the command body) so ``mloop --help`` stays fast; Rich
loads when something is drawn with it (a command that prints only plain lines never loads it).
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import io
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from mloop import render

if TYPE_CHECKING:
    from rich.console import Console

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

# What the CLI prints when the terminal's encoding (LANG=C, PYTHONIOENCODING=latin-1) lacks a
# character: ASCII look-alikes for the ones mloop itself writes, "?" for anything else (a user's
# dataset name, a path). Rich already draws tables and trees in ASCII for such terminals.
_ASCII_FALLBACK = {"→": "->", "×": "x", "Δ": "delta", "…": "...", "—": "-", "±": "+/-"}
FALLBACK_ERRORS = "mloop-ascii"


def _ascii_fallback(error: UnicodeError) -> tuple[bytes, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    out = bytearray()
    for char in error.object[error.start : error.end]:
        if 0xDC80 <= ord(char) <= 0xDCFF:  # an undecodable byte of a file name: as surrogateescape
            out.append(ord(char) - 0xDC00)
        else:
            out += _ASCII_FALLBACK.get(char, "?").encode("ascii")
    return bytes(out), error.end


codecs.register_error(FALLBACK_ERRORS, _ascii_fallback)


def tolerate_narrow_encodings() -> None:
    """Never fail on a character stdout or stderr cannot encode; print its fallback instead.

    Without this, a command that had already done its work (moved an alias, wrote a model) died
    with UnicodeEncodeError while printing the result under ``LANG=C`` or a latin-1 terminal.
    """
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors in ("strict", "surrogateescape"):
            stream.reconfigure(errors=FALLBACK_ERRORS)


# Output read by a program (a pipe, a file) is laid out at its natural width: wrapped at 80
# columns, `mloop audit | grep rollback` would miss a cell broken into "rollba" / "ck".
PIPED_WIDTH = 4096
# Below this many columns Rich squeezes some table columns to nothing; plain lines wrap instead.
NARROW_WIDTH = 60


def console() -> Console:
    from rich.console import Console

    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        return Console(soft_wrap=False, width=PIPED_WIDTH)
    return Console(soft_wrap=False)


def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def escape(text: str) -> str:
    """Rich's markup escape, loading Rich only when something is printed through it."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


# Text Rich prints exactly as given (no markup, emoji code, escape, tab or control character).
_PLAIN = re.compile(r"[ -9;-Z^-~]*")


def err_line(text: str) -> None:
    """Print ``text`` literally and a newline on stderr, as ``err_console()`` would print it escaped.

    Plain ASCII goes straight to the stream, so progress lines cost no Rich import.
    """
    if _PLAIN.fullmatch(text):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
        return
    err_console().print(escape(text), highlight=False)


def note(text: str) -> None:
    """A ``note:`` line on stderr: something the command did that the user should know (rows
    it left out, columns it did not use), said once and without alarm."""
    err_line(f"note: {text}")


def to_json(data: Any) -> str:
    """``data`` as indented JSON; the shapes (and NaN as null) are ``mloop.render``'s."""
    return orjson.dumps(render.plain(data), option=orjson.OPT_INDENT_2).decode()


def _escape_non_ascii(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # JSON spells these as a UTF-16 surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def print_json(data: Any) -> None:
    text = to_json(data)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    if codecs.lookup(encoding).name != "utf-8":
        # JSON is UTF-8; under an ASCII or latin-1 stdout print the same document in pure ASCII,
        # non-ASCII characters as \uXXXX escapes, which reads the same in either.
        text = re.sub(r"[^\x00-\x7f]", _escape_non_ascii, text)
    typer.echo(text)


# Rich lays a table out at roughly 1,500 rows a second (every cell is measured, wrapped and
# padded), so a 5,000-column dataset took seconds to show. Past this many rows the same cells
# print in a plain aligned layout, which costs nothing to lay out and loses no value.
PLAIN_LAYOUT_ABOVE = 500
_CONTROL = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def print_plain_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None
) -> None:
    """Left-aligned columns two spaces apart; one line per row, never wrapped or folded."""
    from rich.cells import cell_len

    cells = [
        list(columns),
        *([("" if c is None else str(c)).translate(_CONTROL) for c in r] for r in rows),
    ]
    widths = [max(cell_len(row[i]) for row in cells) for i in range(len(columns))]
    lines = (
        "  ".join(
            cell + " " * (width - cell_len(cell)) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in cells
    )
    typer.echo("\n".join([title, *lines] if title else lines))


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
) -> None:
    rows = list(rows)
    out = console()
    if len(rows) > PLAIN_LAYOUT_ABOVE or out.width < NARROW_WIDTH:
        print_plain_table(columns, rows, title=title)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False, header_style="bold")
    for index, column in enumerate(columns):
        # The first column is the row's identity (a run id, a NAME@N): never broken across lines.
        table.add_column(column, overflow="fold", no_wrap=index == 0)
    for row in rows:
        table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
    out.print(table)


def fmt_time(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S")


def fmt_number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


@contextlib.contextmanager
def chatter_to_stderr() -> Iterator[None]:
    """Route whatever user code prints (LightGBM's [Info] lines, a fit's progress) to stderr.

    stdout carries the command's answer (key=value lines, --json) that scripts parse; a library's
    chatter there breaks them. Both Python-level prints and C-level writes to fd 1 are moved.
    """
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:
        saved = None
    try:
        if saved is not None:
            os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
