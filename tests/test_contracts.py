"""Every contract between the layers is declared: the typed client against the declared operations,
the board link Protocol, the capability Protocols instead of attribute probes, telemetry topics."""

import ast
import inspect
import pathlib
import re
import sys

import pytest

from drivers.capabilities import LatchReport, ListSweep, PipelinedPush, SettingsReport, capable
from drivers.open_ris import OpenRISBoard
from drivers.smp_board import SMPBoard
from drivers.transport import CountingLink, Link, SerialLink, make_link
from drivers.vna import KeysightPNA, RohdeSchwarzZNB
from simhw.control import client_gen
from simhw.control.client import DaemonClient
from simhw.control.client_ops import OperationMethods
from simhw.control.operations import OPERATIONS
from simhw.control.topics import Topic

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from transcript import ScriptedLink  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_the_checked_in_client_is_what_the_operations_render():
    assert client_gen.TARGET.read_text() == client_gen.render(), (
        "simhw/control/client_ops.py is out of date: run python -m simhw.control.client_gen"
    )


def test_every_operation_has_a_client_method_with_its_parameters_and_nothing_else():
    methods = {n for n, v in vars(OperationMethods).items() if inspect.isfunction(v) and not n.startswith("_")}
    assert methods == set(OPERATIONS), methods ^ set(OPERATIONS)
    for name, op in OPERATIONS.items():
        sig = inspect.signature(getattr(DaemonClient, name))
        got = [p for p in sig.parameters.values() if p.name not in ("self", "timeout")]
        assert {p.name for p in got} == {p.name for p in op.params}, name
        assert sig.parameters["timeout"].kind is inspect.Parameter.KEYWORD_ONLY, name
        for q in got:
            param = next(p for p in op.params if p.name == q.name)
            if param.required:
                assert q.default is inspect.Parameter.empty and q.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, (
                    name,
                    q.name,
                )
            else:
                assert q.default == param.default, (name, q.name)
                assert (q.kind is inspect.Parameter.KEYWORD_ONLY) == op.keyword_only, (name, q.name)
        declared = [p.name for p in sorted(op.params, key=lambda p: not p.required)]
        assert [q.name for q in got] == declared, name


def test_board_links_are_links_and_anything_else_is_refused_by_name():
    assert isinstance(SerialLink("loop://"), CountingLink)
    assert isinstance(ScriptedLink([]), CountingLink)
    assert make_link("loop://", 115200).url == "loop://" and isinstance(make_link("loop://", 115200), Link)
    with pytest.raises(TypeError, match=r"not dict \(it has no .*bytes_out.*read_some"):
        SMPBoard({"url": "socket://127.0.0.1:1"})
    with pytest.raises(TypeError, match=r"CountingLink, not Bare \(it has no bytes_out\)"):
        SMPBoard(Bare())  # an SMP board's uploads report the bytes its link counts
    assert OpenRISBoard(Bare()).link.url == "bare://"


class Bare:
    """A link with every member of Link and no byte count."""

    url, byte_time, lock, is_open = "bare://", 0.0, None, False

    def open(self): ...

    def close(self): ...

    def write(self, data): ...

    def read_some(self):
        return b""

    def discard_input(self): ...


def test_capabilities_once_probed_by_name_are_declared_protocols():
    smp, ris = SMPBoard("loop://"), OpenRISBoard("loop://")
    assert isinstance(smp, LatchReport) and isinstance(smp, PipelinedPush)
    assert not isinstance(ris, LatchReport)
    pna, znb = KeysightPNA("TCPIP::127.0.0.1::1::SOCKET"), RohdeSchwarzZNB("TCPIP::127.0.0.1::1::SOCKET")
    assert isinstance(pna, SettingsReport) and isinstance(pna, ListSweep)
    assert capable(pna, ListSweep) and not capable(znb, ListSweep)  # a ZNB without ZNA-B91 has no trigger out


PROBED = {  # the names the issue found probed; each must be a capability Protocol's member
    "trigger_outputs",
    "last_latched",
    "measurement_settings",
    "list_sweep",
    "push_many",
    "store_slot",
    "set_watchdog",
    "arm_trigger",
    "arm_timer",
}
PROBE_FOLDERS = ("drivers", "simhw", "calibration", "sim_backend")


def capability_members() -> set[str]:
    """The methods and attributes the capability Protocols of drivers/capabilities.py declare."""
    tree = ast.parse((ROOT / "drivers" / "capabilities.py").read_text())
    out = set()
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef) and any("Protocol" in ast.unparse(b) for b in cls.bases):
            for n in cls.body:
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out.add(n.name)
                elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
                    out.add(n.target.id)
    return out


def probes(root: pathlib.Path = ROOT) -> list[str]:
    """``getattr``/``hasattr`` calls whose attribute name is a capability member, however they are spelled
    (quotes, spacing, keyword or positional default), in the packages below ``root``."""
    names = capability_members()
    out = []
    for folder in PROBE_FOLDERS:
        for p in sorted((root / folder).rglob("*.py")):
            for n in ast.walk(ast.parse(p.read_text(), str(p))):
                if (
                    isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Name)
                    and n.func.id in ("getattr", "hasattr")
                    and len(n.args) >= 2
                    and isinstance(n.args[1], ast.Constant)
                    and n.args[1].value in names
                ):
                    out.append(f"{p.relative_to(root)}:{n.lineno} {n.func.id} {n.args[1].value}")
    return out


def test_the_probed_names_are_capability_members():
    assert PROBED <= capability_members(), PROBED - capability_members()


def test_no_capability_is_probed_by_attribute_name():
    found = probes()
    assert not found, found


@pytest.mark.parametrize(
    "line, found",
    [
        ("getattr(vna, 'measurement_settings', None)", "getattr measurement_settings"),
        ('getattr(board,"last_latched", None)', "getattr last_latched"),
        ("hasattr(\n    vna,\n    'trigger_outputs',\n)", "hasattr trigger_outputs"),
        ("getattr(board, 'push_many')", "getattr push_many"),
    ],
)
def test_a_probe_is_found_however_it_is_spelled(tmp_path, line, found):
    path = tmp_path / "simhw" / "probe.py"
    path.parent.mkdir()
    path.write_text(f"def f(vna, board):\n    return {line}\n")
    assert probes(tmp_path) == [f"simhw/probe.py:2 {found}"]


def _published_literals() -> list[str]:
    """String literals handed to the daemon's publish paths (event, record, _publish, subscribe's topics)."""
    out = []
    for path in (ROOT / "simhw").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("event", "record", "_publish", "changed")
                and node.args
            ):
                topic = node.args[1] if node.func.attr == "_publish" and len(node.args) > 1 else node.args[0]
                if isinstance(topic, ast.Constant) and isinstance(topic.value, str):
                    out.append(f"{path.relative_to(ROOT)}:{node.lineno} {topic.value!r}")
            if (
                isinstance(node, ast.Compare)
                and any(
                    isinstance(c, ast.Constant) and c.value in {t.value for t in Topic} | {t.encode() for t in Topic}
                    for c in node.comparators
                )
                and isinstance(node.left, ast.Name)
                and node.left.id == "topic"
            ):
                out.append(f"{path.relative_to(ROOT)}:{node.lineno} topic compared with a literal")
    return out


def test_telemetry_topics_are_published_and_compared_only_by_their_declared_names():
    assert not _published_literals(), _published_literals()


def test_every_topic_is_documented():
    doc = (ROOT / "docs" / "control.md").read_text()
    para = doc[doc.index("Telemetry topics") : doc.index("## Semantics")]
    assert set(re.findall(r"`([a-z_]+)`", para)) - {"pushes"} == {t.value for t in Topic}
