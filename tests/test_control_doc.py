"""docs/control.md documents every operation and error code the daemon knows."""

import pathlib
import re

from simhw.control import schema
from simhw.control.daemon import OPS

DOC = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "control.md").read_text()


def test_every_operation_is_documented():
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", DOC, re.M))
    assert OPS <= documented, OPS - documented
    assert documented <= OPS | {"socket"}, documented - OPS


def test_every_error_code_and_the_magic_are_documented():
    for code in schema.ERROR_CODES:
        assert f"`{code}`" in DOC
    assert f"`{schema.MAGIC.decode()}`" in DOC
    for dt in schema.DTYPES:
        assert dt in DOC
