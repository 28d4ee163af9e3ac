"""The columns of a scored file: the input's columns, then the predictions.

The input columns are written as they were read. A CSV's values are text, copied exactly as
written (ids with leading zeros, ``1.50`` stay so) when the output is a CSV too; into a Parquet
output, the columns the model reads get the types its signature gives them (integer, float,
boolean), and every other column stays text, since a streamed file has no one type to infer
for a column whose ten-millionth value may disagree with the first. A Parquet input keeps its
own types in either output.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from mloop.batch.writers import output_kind
from mloop.data.compiled import NUMBER_TEXT
from mloop.data.schema import TRUE_STRINGS
from mloop.signature import Signature

_TYPES = {"integer": pa.int64(), "float": pa.float64(), "boolean": pa.bool_()}
REJECTS_SUFFIX = ".rejects.csv"


def default_rejects(output: Path) -> Path:
    """``scores.csv`` → ``scores.rejects.csv`` (also for ``.parquet``, ``.csv.gz``, …)."""
    name = output.name
    for suffix in (".csv.gz", ".csv.zst", ".parquet", ".csv", ".tsv", ".pq"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return output.with_name(name + REJECTS_SUFFIX)


class InputColumns:
    """How the input's columns go into the output, fixed once for the whole file."""

    def __init__(
        self, read: pa.Schema, *, text_input: bool, output: Path, signature: Signature
    ) -> None:
        self.convert: dict[str, str] = {}
        if text_input and output_kind(output)[0] == "parquet":
            self.convert = {
                c.name: c.type
                for c in signature.inputs
                if c.type in _TYPES and c.name in read.names
            }
        self.schema = pa.schema(
            [
                pa.field(f.name, _TYPES[self.convert[f.name]]) if f.name in self.convert else f
                for f in read
            ]
        )

    def table(self, rows: pa.Table) -> pa.Table:
        """``rows`` (as read, already validated) in the output's types."""
        for name, kind in self.convert.items():
            index = rows.schema.get_field_index(name)
            rows = rows.set_column(index, name, _as_type(rows.column(index), kind))
        return rows


def _as_type(text: pa.ChunkedArray, kind: str) -> pa.ChunkedArray:
    """Validated text as numbers or truth values; a value with no such reading (``inf`` in an
    integer column) becomes missing rather than failing the job."""
    if kind == "boolean":
        spelled = pc.utf8_lower(pc.utf8_trim_whitespace(text))
        truth = pc.is_in(spelled, pa.array(sorted(TRUE_STRINGS)))
        return pc.if_else(pc.is_valid(text), truth, None)  # type: ignore[no-any-return]
    readable = pc.match_substring_regex(text, NUMBER_TEXT)
    values = pc.if_else(readable, pc.utf8_trim_whitespace(text), None).cast(pa.float64())
    if kind == "float":
        return values  # type: ignore[no-any-return]
    whole = pc.and_(pc.is_finite(values), pc.equal(pc.floor(values), values))
    return pc.if_else(whole, values, None).cast(pa.int64())  # type: ignore[no-any-return]
