"""docs/control.md documents every operation and error code the daemon knows, as they are declared."""

import pathlib
import re

from simhw.control import schema
from simhw.control.operations import OPERATIONS

DOC = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "control.md").read_text()
ROWS = {m.group(1): m.groups()[1:] for m in re.finditer(r"^\| `([a-z_]+)` \| (\w+) \|([^|]*)\|([^|]*)\|$", DOC, re.M)}


def test_every_operation_is_documented():
    assert set(ROWS) == set(OPERATIONS), set(ROWS) ^ set(OPERATIONS)


def test_each_row_says_what_the_declaration_says():
    for name, op in OPERATIONS.items():
        runs, request, reply = ROWS[name]
        assert runs == op.runs, name
        assert set(re.findall(r"`(\w+)`", request)) == {p.name for p in op.params}, name
        assert {f for f in op.fields} <= set(re.findall(r"`(\w+)`", reply)), name
        assert ("arrays:" in reply) == bool(op.arrays), name


def test_every_error_code_and_the_magic_are_documented():
    for code in schema.ERROR_CODES:
        assert f"`{code}`" in DOC
    assert f"`{schema.MAGIC.decode()}`" in DOC
    for dt in schema.DTYPES:
        assert dt in DOC
