"""``--sweep`` specs: ``param=v1,v2,…`` (a list) or ``param=lo:hi:n[:log]`` (a range).

List values are read as ``--param`` reads a value (cli/params.py), split at top-level commas, so
``hidden=(64, 32),(128,)`` is two tuples. A range is ``n`` values from ``lo`` to ``hi``, both
included, evenly spaced, or evenly spaced on a log scale with ``:log``; whole numbers at both
ends give whole numbers, rounded (``n_estimators=50:200:4`` is 50, 100, 150, 200; a range with
fewer whole numbers than ``n`` is refused), else floats rounded
to 12 significant digits, so ``0.1`` is printed and logged as 0.1, not 0.30000000000000004.
"""

from __future__ import annotations

import math
import re
from typing import Any

from mloop.cli.params import parse_value
from mloop.errors import InvalidInput

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*:\s*({_NUMBER})\s*:\s*([-+]?\d+)\s*(?::\s*(\w+)\s*)?$")
_HOW = "write --sweep NAME=v1,v2,… or --sweep NAME=lo:hi:n (add :log for a log scale)"
_PAIRS = {"(": ")", "[": "]", "{": "}"}


def _split(text: str) -> list[str]:
    """Commas outside brackets and quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in _PAIRS:
            depth += 1
        elif char in _PAIRS.values():
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _tidy(value: float) -> float:
    return float(f"{value:.12g}")


def parse_range(name: str, spec: str) -> list[Any] | None:
    """The values of ``lo:hi:n[:log]``; None when ``spec`` is not a range."""
    found = _RANGE.match(spec)
    if found is None:
        return None
    lo_text, hi_text, n_text, scale = found.groups()
    lo, hi, n = float(lo_text), float(hi_text), int(n_text)
    where = f"--sweep {name}={spec.strip()}"
    if scale not in (None, "log"):
        raise InvalidInput(f"{where}: the fourth part can only be 'log'; {_HOW}.")
    if n < 1:
        raise InvalidInput(f"{where}: n must be at least 1, not {n}; {_HOW}.")
    if lo > hi:
        raise InvalidInput(f"{where}: lo ({lo_text}) is above hi ({hi_text}); swap them.")
    if scale == "log" and lo <= 0:
        raise InvalidInput(
            f"{where}: a log scale needs lo above 0 (got {lo_text}); use a linear range or "
            "start above 0."
        )
    if lo == hi and n > 1:
        raise InvalidInput(
            f"{where}: lo and hi are both {lo_text}, so every trial would be the same; "
            "widen the range or make n 1."
        )
    if n == 1:
        points = [lo]
    elif scale == "log":
        step = (math.log10(hi) - math.log10(lo)) / (n - 1)
        points = [10 ** (math.log10(lo) + i * step) for i in range(n)]
        points[-1] = hi
    else:
        points = [lo + (hi - lo) * i / (n - 1) for i in range(n)]
    whole = all(re.fullmatch(r"[-+]?\d+", text.strip()) for text in (lo_text, hi_text))
    if whole:
        values: list[Any] = list(dict.fromkeys(round(p) for p in points))
        if len(values) < n:
            raise InvalidInput(
                f"{where}: only {len(values)} whole numbers lie in that range at that spacing; "
                f"lower n, or write the ends as decimals ({lo_text}.0) for fractional values."
            )
        return values
    return [_tidy(p) for p in points]


def parse_sweeps(specs: list[str]) -> dict[str, list[Any]]:
    """``--sweep`` flags into parameter -> values, in the order given; raises ``InvalidInput``
    (one sentence) for a spec without ``NAME=``, an empty value, a bad range, or a repeated name
    or value."""
    axes: dict[str, list[Any]] = {}
    for spec in specs:
        key, sep, raw = spec.partition("=")
        name = key.strip()
        if not sep or not name.isidentifier():
            raise InvalidInput(f"--sweep {spec!r} does not start with a parameter name; {_HOW}.")
        if name in axes:
            raise InvalidInput(
                f"--sweep {name} is given twice; put all its values in one flag ({_HOW})."
            )
        values = parse_range(name, raw)
        if values is None:
            parts = _split(raw)
            if any(not part.strip() for part in parts):
                raise InvalidInput(f"--sweep {name}={raw} has an empty value; {_HOW}.")
            values = [parse_value(part) for part in parts]
        seen: set[str] = set()
        for value in values:
            if repr(value) in seen:
                raise InvalidInput(
                    f"--sweep {name}={raw.strip()} gives {value!r} twice, so two trials would be "
                    "the same; drop the repeat."
                )
            seen.add(repr(value))
        axes[name] = values
    return axes


def render_sweep(result: Any, *, registered: Any, as_json: bool) -> None:
    """The parent run, the best trial and one row per trial (swept params, metric, seconds)."""
    import typer

    from mloop.cli.output import fmt_number, print_json, print_table

    if as_json:
        print_json(
            {**result.to_dict(), "registered": None if registered is None else registered.ref}
        )
        return
    typer.echo(f"run={result.run_id}")
    typer.echo(f"best_run={result.best_run_id}")
    names = list(result.trials[0].params) if result.trials else []
    print_table(
        ["trial", "run", "status", *names, result.metric, "seconds"],
        [
            (
                trial.index + 1,
                trial.run_id or "-",
                trial.status + (" (best)" if trial.run_id == result.best_run_id else ""),
                *(fmt_number(trial.params.get(n)) for n in names),
                fmt_number(trial.metrics.get(result.metric, "")),
                f"{trial.seconds:.1f}",
            )
            for trial in result.trials
        ],
        title=(
            f"{len(result.trials)} trials of {result.model} on {result.dataset}, "
            f"{result.executor} executor ({result.parallelism} at once), "
            f"{'highest' if result.greater_is_better else 'lowest'} {result.metric} wins"
        ),
    )
    if registered is not None:
        typer.echo(f"model={registered.ref}")
