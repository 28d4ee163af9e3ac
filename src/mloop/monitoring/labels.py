"""Label values made comparable with a model's predictions, whatever type they arrived as.

A label comes from a CSV column (typed by the file), a Parquet column or a JSON body (any scalar).
The model's signature says what its predictions are: classes of one Python type (``bool``,
``int``, ``float`` or ``str``) or numbers. Each label is converted to that type once, on the way
in, and stored as its canonical text (``1``, ``true``, ``0.25``, ``yes``); readers cast the text
back to the type of the log's ``prediction`` column. So ``"1"``, ``1`` and ``1.0`` are one label
for a model with classes ``[0, 1]``, and ``True``, ``"true"`` and ``1`` one for classes
``[False, True]``, while a label that cannot be one of them (``"maybe"`` for an integer class) is
refused with its value named, before anything is stored.

Class labels of text classes follow ``category_text`` (``True`` is ``"True"``, ``3.0`` is ``"3"``),
the spelling training and serving use for categories.

A label that is none of the model's classes is either a slip (``"Benign"`` for ``"benign"``:
refused, naming the class meant) or a new outcome (kept, and reported by ``new_classes``): the
world may grow a class no model knows, and monitoring must see it rather than refuse it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from mloop.data.schema import category_text
from mloop.errors import InvalidInput
from mloop.signature import Output

Kind = Literal["boolean", "integer", "float", "string"]
TRUE_TEXT = ("true", "t", "yes", "y", "1")
FALSE_TEXT = ("false", "f", "no", "n", "0")


def label_kind(output: Output | None) -> Kind | None:
    """The Python type a model's predictions have, from its signature (None when it says nothing)."""
    if output is None:
        return None
    if output.type == "number":
        return "float"
    classes = output.classes or []
    if not classes:
        return None
    if all(isinstance(c, bool) for c in classes):
        return "boolean"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "integer"
    if all(isinstance(c, int | float) and not isinstance(c, bool) for c in classes):
        return "float"
    return "string"


def as_array(values: list[object]) -> pa.Array:
    """JSON scalars as one Arrow array; a mix of types (``[1, "0"]``) as their category text."""
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else category_text(v) for v in values], pa.string())
    if pa.types.is_null(array.type):
        return array.cast(pa.string())
    return array


def _first_bad(values: pa.Array, bad: pa.Array) -> str:
    index = pc.index(bad, True).as_py()
    return repr(values[index].as_py())


def _refuse(values: pa.Array, bad: pa.Array, what: str, where: str) -> InvalidInput:
    count = int(pc.sum(bad).as_py() or 0)
    return InvalidInput(
        f"{count} label{'' if count == 1 else 's'} {where}cannot be {what} (the first: "
        f"{_first_bad(values, bad)}); send labels the model could predict."
    )


def _text_of(values: pa.Array) -> pa.Array:
    kind = values.type
    if pa.types.is_boolean(kind):
        return pc.if_else(values, "true", "false")
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return values.cast(pa.string())
    if pa.types.is_dictionary(kind):
        return _text_of(values.dictionary_decode())
    return values.cast(pa.string())


def _numbers(values: pa.Array, what: str, where: str) -> pa.Array:
    """Numbers as float64; text parsed; booleans refused (a class 1 is not ``True`` by accident)."""
    kind = values.type
    if pa.types.is_dictionary(kind):
        return _numbers(values.dictionary_decode(), what, where)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return values.cast(pa.float64())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.utf8_trim_whitespace(values.cast(pa.string()))
        try:
            return text.cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # the cast names no value: find the bad ones to say which
        parsed = pa.array([_parse_float(t) for t in text.to_pylist()], pa.float64())
        raise _refuse(values, pc.is_null(parsed), what, where)
    bad = pc.is_valid(values)
    raise _refuse(values, bad, what, where)


def _parse_float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def canonical_labels(values: pa.Array, kind: Kind | None, *, where: str = "") -> pa.Array:
    """``values`` as the canonical text of ``kind``; raises ``InvalidInput`` naming a bad one.

    ``where`` places the labels in the message (``"in column 'churned' "``). Nulls are refused:
    a missing label is not a label.
    """
    return _canonical(values, kind, where)


def class_texts(classes: Sequence[object], kind: Kind | None) -> dict[str, object]:
    """Each class by its canonical text (the spelling labels are compared in). A class that is
    not of ``kind`` (a candidate with text classes beside a champion with integer ones) keeps
    its category text rather than failing the labels of the other model."""
    found: dict[str, object] = {}
    for value in classes:
        try:
            text = _canonical(as_array([value]), kind, "")[0].as_py()
        except InvalidInput:
            text = category_text(value)
        found.setdefault(str(text), value)
    return found


def _spelling(text: str) -> str:
    """What two spellings of one class share: case, spaces around it and the number form
    (``"1.0"`` is ``"1"``, as ``category_text`` spells a category) do not count."""
    folded = text.strip().casefold()
    try:
        number = float(folded)
    except ValueError:
        return folded
    return category_text(number) if math.isfinite(number) else folded


def new_classes(
    text: pa.Array,
    values: pa.Array,
    classes: Sequence[object],
    kind: Kind | None,
    *,
    where: str = "",
    earlier: Sequence[str] = (),
) -> list[str]:
    """The labels (canonical ``text`` of ``values``) that are none of ``classes``, once each in
    order of arrival: outcomes no model knows, which monitoring must see rather than refuse.

    A label that is a known spelling written otherwise is a slip, not a new outcome: stored, it
    would count as a wrong prediction in every realised metric. The known spellings are the
    ``classes`` (``"Benign"`` or ``" benign"`` for ``"benign"``, ``"1.0"`` for ``"1"``), then the
    ``earlier`` labels already stored, then the new labels in order of arrival (``"Atypical"``
    after ``"atypical"``). Raises ``InvalidInput`` naming the first slip and what it probably
    meant.
    """
    known = class_texts(classes, kind)
    if not known:
        return []
    unknown = pc.invert(pc.is_in(text, pa.array(list(known), pa.string())))
    if not pc.any(unknown).as_py():
        return []
    fresh = [str(t) for t in pc.unique(pc.filter(text, unknown)).to_pylist()]
    spellings: dict[str, tuple[str, object]] = {}
    for spelt, value in [*known.items(), *((e, e) for e in earlier), *((f, f) for f in fresh)]:
        spellings.setdefault(_spelling(spelt), (spelt, value))
    slips = [t for t in fresh if spellings[_spelling(t)][0] != t]
    if slips:
        bad = pc.is_in(text, pa.array(slips, pa.string()))
        count = int(pc.sum(bad).as_py() or 0)
        meant = spellings[_spelling(text[pc.index(bad, True).as_py()].as_py())][1]
        raise InvalidInput(
            f"{count} label{'' if count == 1 else 's'} {where}"
            f"{'is a known class' if count == 1 else 'are known classes'} spelt otherwise "
            f"(the first: {_first_bad(values, bad)}, probably {meant!r}); send {meant!r}, the "
            "spelling already known (a genuinely new class differs by more than case, spaces "
            "or number form)."
        )
    return fresh


def _canonical(values: pa.Array, kind: Kind | None, where: str) -> pa.Array:
    if values.null_count:
        raise InvalidInput(
            f"{values.null_count} label{'' if values.null_count == 1 else 's'} {where}"
            "are empty; send only the labels you know."
        )
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if kind is None:
        return _text_of(values)
    if kind == "string":
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            return values.cast(pa.string())
        if pa.types.is_dictionary(values.type):
            return values.dictionary_decode().cast(pa.string())
        return pa.array([category_text(v) for v in values.to_pylist()], pa.string())
    if kind == "boolean":
        return _booleans(values, where)
    numbers = _numbers(values, "numbers" if kind == "float" else "whole numbers", where)
    if kind == "float":
        return numbers.cast(pa.string())
    whole = pc.equal(pc.floor(numbers), numbers)
    if not pc.all(whole).as_py():
        raise _refuse(values, pc.invert(whole), "whole numbers", where)
    return numbers.cast(pa.int64()).cast(pa.string())


def _booleans(values: pa.Array, where: str) -> pa.Array:
    kind = values.type
    if pa.types.is_dictionary(kind):
        return _booleans(values.dictionary_decode(), where)
    if pa.types.is_boolean(kind):
        return _text_of(values)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        bad = pc.invert(pc.is_in(values.cast(pa.float64()), pa.array([0.0, 1.0])))
        if pc.any(bad).as_py():
            raise _refuse(values, bad, "true or false (0 or 1)", where)
        return pc.if_else(pc.equal(values.cast(pa.float64()), 1.0), "true", "false")
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.utf8_lower(pc.utf8_trim_whitespace(values.cast(pa.string())))
        yes = pc.is_in(text, pa.array(TRUE_TEXT))
        no = pc.is_in(text, pa.array(FALSE_TEXT))
        bad = pc.invert(pc.or_(yes, no))
        if pc.any(bad).as_py():
            raise _refuse(values, bad, "true or false", where)
        return pc.if_else(yes, "true", "false")
    raise _refuse(values, pc.is_valid(values), "true or false", where)
