"""What an imported schema file changes in a dataset's current schema, and the schema that results.

A schema file often names only the columns someone edited: importing a one-column file must not
silently drop every other column's rules. So an import merges by column by default (a column the
file names takes the file's rules whole; columns it leaves out keep theirs; table-level checks
merge by name, other table-level rules the file sets replace the current ones), and ``replace``
makes the file the whole schema. Either way the result lists what changed, rule by rule, so the
CLI can say it and the audit log can keep it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mloop.data.schema import ColumnSchema, Schema

TABLE = "*"  # the column name of a table-level rule, as validation reports it

Mode = Literal["merge", "replace"]


@dataclass(frozen=True)
class RuleChange:
    """One rule of one column (``*`` for the table) before and after; ``None`` where absent."""

    column: str
    rule: str
    before: Any
    after: Any


@dataclass(frozen=True)
class SchemaChanges:
    """The schema an import produces and how it differs from the one it replaces."""

    schema: Schema
    mode: Mode
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    rules: list[RuleChange] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.rules)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready account for the audit entry and ``--json``."""
        return {
            "mode": self.mode,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "kept": self.kept,
            "rules": [
                {"column": r.column, "rule": r.rule, "before": r.before, "after": r.after}
                for r in self.rules
            ],
        }


def _rules(column: ColumnSchema) -> dict[str, Any]:
    return column.model_dump(mode="json", exclude={"name"})


def _column_diff(
    name: str, before: ColumnSchema | None, after: ColumnSchema | None
) -> list[RuleChange]:
    """Every rule whose value differs; a column that appears or disappears lists the rules it
    sets beyond the defaults (its type always), so a reader sees what it brings or takes away."""
    defaults = ColumnSchema(name=name, type="string").model_dump(mode="json", exclude={"name"})
    old = _rules(before) if before else {}
    new = _rules(after) if after else {}
    changes = []
    for rule in defaults:
        was, now = old.get(rule), new.get(rule)
        if before is None and rule != "type" and now == defaults[rule]:
            continue
        if after is None and rule != "type" and was == defaults[rule]:
            continue
        if was != now or before is None or after is None:
            changes.append(RuleChange(name, rule, was, now))
    return changes


def _table_diff(before: Schema, after: Schema) -> list[RuleChange]:
    old = before.model_dump(mode="json", exclude={"columns", "checks"})
    new = after.model_dump(mode="json", exclude={"columns", "checks"})
    changes = [
        RuleChange(TABLE, rule, old.get(rule), new.get(rule))
        for rule in sorted(old.keys() | new.keys())
        if old.get(rule) != new.get(rule)
    ]
    old_checks = {c.name: c.model_dump(mode="json") for c in before.checks}
    new_checks = {c.name: c.model_dump(mode="json") for c in after.checks}
    for name in [*old_checks, *(n for n in new_checks if n not in old_checks)]:
        if old_checks.get(name) != new_checks.get(name):
            was, now = old_checks.get(name), new_checks.get(name)
            changes.append(
                RuleChange(
                    TABLE,
                    f"check:{name}",
                    None if was is None else was["callable"],
                    None if now is None else now["callable"],
                )
            )
    return changes


def _merged(current: Schema, incoming: Schema) -> Schema:
    named = {c.name: c for c in incoming.columns}
    known = set(current.names())
    columns = [named.get(c.name, c) for c in current.columns]
    columns += [c for c in incoming.columns if c.name not in known]
    checks = {c.name: c for c in current.checks}
    checks.update({c.name: c for c in incoming.checks})
    # Table-level rules the file spells out win; ones it leaves out stay as they are.
    table = {
        key: getattr(incoming, key)
        for key in incoming.model_fields_set
        if key not in {"columns", "checks"}
    }
    return current.model_copy(update={"columns": columns, "checks": list(checks.values()), **table})


def schema_changes(current: Schema, incoming: Schema, *, replace: bool = False) -> SchemaChanges:
    """The schema importing ``incoming`` over ``current`` gives, with what changed.

    ``replace=False`` merges by column (see the module docstring); ``replace=True`` takes
    ``incoming`` as the whole schema, so columns it leaves out lose their rules (``removed``).
    """
    result = incoming if replace else _merged(current, incoming)
    old = {c.name: c for c in current.columns}
    new = {c.name: c for c in result.columns}
    added: list[str] = []
    changed: list[str] = []
    kept: list[str] = []
    rules: list[RuleChange] = []
    for name, column in new.items():
        diff = _column_diff(name, old.get(name), column)
        (added if name not in old else changed if diff else kept).append(name)
        rules.extend(diff)
    removed = [name for name in old if name not in new]
    for name in removed:
        rules.extend(_column_diff(name, old[name], None))
    rules.extend(_table_diff(current, result))
    return SchemaChanges(
        schema=result,
        mode="replace" if replace else "merge",
        added=added,
        changed=changed,
        removed=removed,
        kept=kept,
        rules=rules,
    )
