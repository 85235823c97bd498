"""Write :mod:`simhw.control.client_ops`, the typed client methods, from the declared operations.

    python -m simhw.control.client_gen      # after changing an Operation in simhw.control.operations

Each operation becomes one written-out method of ``OperationMethods`` (the base of
:class:`~simhw.control.client.DaemonClient`): its parameters in declared order, required ones first,
then ``timeout``; its docstring the operation's doc and its parameters' docs; its body one call of
``DaemonClient._call``. ``tests/test_contracts.py`` fails when the checked-in module differs from
what this renders, so an editor and a type checker always see the operations the daemon serves.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from simhw.control.operations import OPERATIONS, Operation, Param

__all__ = ["render", "TARGET"]

TARGET = Path(__file__).with_name("client_ops.py")
TYPES = {"int": "int", "number": "float", "str": "str", "bool": "bool", "config": "PhaseConfig | str"}
RETURNS = {
    "field": "Any",
    "fields": "dict",
    "arrays+fields": "tuple",
    "arrays+field": "tuple",
    "arrays+header": "tuple",
    "field+blob": "tuple[Any, bytes | None]",
    "listing": "list[dict]",
    "measurement": "Measurement",
    "none": "None",
}
HEADER = '''"""The bench daemon's operations as typed client methods (generated: do not edit).

Written by ``python -m simhw.control.client_gen`` from :data:`simhw.control.operations.OPERATIONS`;
:class:`~simhw.control.client.DaemonClient` inherits them and implements ``_call``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simhw.values.measurement import Measurement
from simhw.values.phase_config import PhaseConfig

__all__ = ["OperationMethods"]


class OperationMethods:
    """One method per declared operation; each sends its request and returns its reply as declared."""

    _call: Callable[..., Any]
'''


def _param(p: Param, keyword_only: bool) -> tuple[bool, str]:
    """(whether it is keyword-only, its text in the signature)."""
    if p.required:
        return False, f"{p.name}: {TYPES[p.kind]}"
    if p.default is None:
        return keyword_only, f"{p.name}: {TYPES[p.kind]} | None = None"
    default = f'"{p.default}"' if isinstance(p.default, str) else repr(p.default)
    return keyword_only, f"{p.name}: {TYPES[p.kind]} = {default}"


def _method(op: Operation) -> str:
    params = sorted(op.params, key=lambda p: not p.required)
    args = [_param(p, op.keyword_only) for p in params]
    positional = [text for kw, text in args if not kw]
    keyword = [text for kw, text in args if kw] + ["timeout: float | None = None"]
    head = f"    def {op.name}("
    sig = _wrap(["self", *positional, "*", *keyword], head, f") -> {RETURNS[op.result]}:")
    doc = [op.doc[:1].upper() + op.doc[1:] + "."]
    doc += [""] + [f"``{p.name}``: {p.doc}." for p in op.params] if op.params else []
    text = [
        textwrap.fill(d, 120, initial_indent=" " * (11 if i == 0 else 8), subsequent_indent=" " * 8)
        for i, d in enumerate(doc)
    ]
    body = '        """' + "\n".join(text)[11:]
    quoted = body + ('\n        """' if "\n" in body else '"""')
    call = _wrap(
        [f'"{op.name}"', "timeout", *(f"{p.name}={p.name}" for p in op.params)], "        return self._call(", ")"
    )
    return "\n".join([sig, quoted, call])


def _wrap(items: list[str], head: str, tail: str) -> str:
    """``head`` + the items joined by commas + ``tail`` laid out as ``ruff format`` lays them out in 120 columns:
    on one line; else the items on one line of their own; else one item per line with a trailing comma."""
    indent = " " * (len(head) - len(head.lstrip()))
    inner = indent + "    "
    one = ", ".join(items)
    if len(head) + len(one) + len(tail) <= 120:
        return head + one + tail
    if len(inner) + len(one) <= 120:
        return f"{head}\n{inner}{one}\n{indent}{tail}"
    return "\n".join([head, *(f"{inner}{item}," for item in items), indent + tail])


def render() -> str:
    """The source of simhw/control/client_ops.py for the operations declared now."""
    return HEADER + "".join("\n" + _method(op) + "\n" for op in OPERATIONS.values())


def main() -> int:
    TARGET.write_text(render())
    print(f"wrote {TARGET} ({len(OPERATIONS)} operations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
