"""The folders are the layers (docs/architecture.md): every module's imports, read with ``ast``.

Function-local imports count like top-level ones, so none can hide a cycle or a broken rule. A
function-local import of the project's own code is refused outright, except the one lazy name of
the root package (``simhw.open_bench``, which lives in the application layer).
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("simhw", "drivers", "calibration", "sim_backend")

# layer -> the layers its modules may import (its own included)
LAYERS = {
    "physics": {"physics"},
    "values": {"physics", "values"},
    "designs": {"physics", "values", "designs"},
    "drivers": {"physics", "values", "drivers"},
    "calibration": {"physics", "values", "calibration"},
    "sim_backend": {"physics", "values", "sim_backend"},
    "control": {"physics", "values", "designs", "drivers", "calibration", "control"},
    "integrations": {"physics", "values", "designs", "calibration", "control", "integrations"},
    "app": {
        "physics",
        "values",
        "designs",
        "drivers",
        "calibration",
        "control",
        "sim_backend",
        "integrations",
        "app",
        "root",
    },
    "root": {"physics", "values", "app"},
}
# the sans-I/O codecs and instrument facts the simulated hardware shares with the drivers
CODECS = {
    "drivers.cobs",
    "drivers.smp",
    "drivers.smp_messages",
    "drivers.sequence",
    "drivers.features",
    "drivers.open_ris_codec",
}
# calibration sees the hardware only through its sources
EXTRA = {"calibration.sources": {"drivers"}}
LAZY_ALLOWED = {("simhw", "simhw.app")}


def layer_of(module: str) -> str:
    top, _, rest = module.partition(".")
    if top == "simhw":
        if not rest:
            return "root"
        head = rest.split(".")[0]
        return {
            "physics": "physics",
            "values": "values",
            "version": "values",
            "designs": "designs",
            "control": "control",
            "integrations": "integrations",
            "app": "app",
            "__main__": "app",
        }[head]
    return top


def module_name(path: pathlib.Path, root: pathlib.Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_modules(root: pathlib.Path = ROOT) -> dict[str, pathlib.Path]:
    return {module_name(p, root): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}


def imports_of(module: str, path: pathlib.Path, known: set[str]) -> list[tuple[str, bool, int]]:
    """(imported project module, function-local?, line) for every import statement in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    local_lines = {
        n.lineno
        for f in ast.walk(tree)
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
        for n in ast.walk(f)
        if isinstance(n, (ast.Import, ast.ImportFrom))
    }
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            if t.split(".")[0] in PACKAGES:
                while t not in known and "." in t:
                    t = t.rpartition(".")[0]
                out.append((t, node.lineno in local_lines, node.lineno))
    return out


def graph(root: pathlib.Path = ROOT):
    mods = read_modules(root)
    known = set(mods)
    return mods, {m: imports_of(m, p, known) for m, p in mods.items()}


def violations(root: pathlib.Path = ROOT) -> list[str]:
    """Every broken rule, as sentences; empty when the layout holds."""
    mods, edges = graph(root)
    bad = []
    for m, imps in edges.items():
        mine = layer_of(m)
        for target, local, line in imps:
            where = f"{mods[m].relative_to(root)}:{line}"
            theirs = layer_of(target)
            allowed = theirs in LAYERS[mine] | EXTRA.get(m, set()) or (mine == "sim_backend" and target in CODECS)
            if not allowed:
                bad.append(f"{where}: {m} ({mine}) imports {target} ({theirs})")
            if (
                local
                and (m, target.rpartition(".")[0] or target) not in LAZY_ALLOWED
                and (m, target) not in LAZY_ALLOWED
            ):
                bad.append(f"{where}: {m} imports {target} inside a function")
    bad += [
        f"import cycle: {' -> '.join(c)}"
        for c in cycles({m: {t for t, _, _ in imps if t != m} for m, imps in edges.items()})
    ]
    return bad


def cycles(adj: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(adj.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp) + [sorted(comp)[0]])

    for v in sorted(adj):
        if v not in index:
            visit(v)
    return out


def test_the_layout_keeps_its_rules():
    assert violations() == []


def test_every_module_has_a_layer():
    for m in read_modules():
        assert layer_of(m) in LAYERS, m


def copy_tree(dst_root: pathlib.Path) -> None:
    """The packages' sources copied below ``dst_root`` (a tree to break on purpose)."""
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            dst = dst_root / p.relative_to(ROOT)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(p.read_text())


@pytest.mark.parametrize(
    "where, line, expected",
    [
        ("simhw/physics/geometry.py", "from simhw.values.phase_config import PhaseConfig", "(physics) imports"),
        ("drivers/board.py", "from simhw.control.schema import encode", "(drivers) imports"),
        ("sim_backend/true_sim.py", "from calibration.calibrated import CalibratedModel", "(sim_backend) imports"),
        ("calibration/metrics.py", "from drivers.board import Board", "(calibration) imports"),
        ("simhw/control/store.py", "from sim_backend.bench import SimBench", "(control) imports"),
        (
            "simhw/physics/model.py",
            "def _later():\n    from simhw.physics.losses import port_power\n",
            "inside a function",
        ),
        ("simhw/physics/geometry.py", "from simhw.physics.propagation import radar", "import cycle"),
    ],
)
def test_a_broken_rule_is_caught(tmp_path, where, line, expected):
    """The checker fails on a copy of the tree with one rule broken."""
    copy_tree(tmp_path)
    assert violations(tmp_path) == []
    target = tmp_path / where
    target.write_text(target.read_text() + "\n" + line + "\n")
    found = violations(tmp_path)
    assert found and any(expected in v for v in found), found


SERVER = "simhw.control.server"
# What a module that starts a server may use of it: serve it and stop it. The bench service it serves is
# the module's own (it built it), never read back from the server.
SERVER_INTERFACE = {"serve", "stop"}
# What holds a server wherever it appears: a variable or parameter ``server`` or ``daemon``, an attribute
# ``x.server`` (not ``x.daemon``: ``cfg.daemon`` is the bench file's [daemon] section).
SERVER_NAMES = {"server", "daemon", ".server"}
SERVER_FACTORIES = {"BenchServer": None}  # which item of what it gives is the server (None: itself)


def _members(tree: ast.AST, cls: str | None = None) -> set[str]:
    """Attributes set on ``self`` and methods defined, in class ``cls`` (None: every class)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and (cls is None or node.name == cls):
            for n in ast.walk(node):
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out.add(n.name)
                elif (
                    isinstance(n, ast.Attribute)
                    and isinstance(n.ctx, ast.Store)
                    and isinstance(n.value, ast.Name)
                    and n.value.id == "self"
                ):
                    out.add(n.attr)
    return out


def _names_in(target: ast.AST) -> list[str]:
    """The names an assignment target binds: ``x`` for a variable, ``.x`` for an attribute (``self.x``)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return [x for e in target.elts for x in _names_in(e)]
    if isinstance(target, ast.Starred):
        return _names_in(target.value)
    return (
        [target.id]
        if isinstance(target, ast.Name)
        else ["." + target.attr]
        if isinstance(target, ast.Attribute)
        else []
    )


def _holder(v: ast.AST) -> str | None:
    """What holds the object an attribute is read from, as :func:`_names_in` names it."""
    return v.id if isinstance(v, ast.Name) else "." + v.attr if isinstance(v, ast.Attribute) else None


def _server_bound(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(names bound to a server, names bound to a Host) in one module: by name, by annotation, or by
    assignment from BenchServer(...) (with ``with ... as`` or an assignment)."""
    servers, hosts = set(SERVER_NAMES), {".host"}
    for n in ast.walk(tree):
        if isinstance(n, (ast.arg, ast.AnnAssign)) and n.annotation is not None:
            ann = ast.unparse(n.annotation)
            names = [n.arg] if isinstance(n, ast.arg) else _names_in(n.target)
            if "BenchServer" in ann:
                servers.update(names)
            elif re.search(r"\bHost\b", ann):
                hosts.update(names)
        made = None
        if isinstance(n, ast.Assign):
            made, targets = n.value, n.targets
        elif isinstance(n, ast.withitem) and n.optional_vars is not None:
            made, targets = n.context_expr, [n.optional_vars]
        calls = [] if made is None else [c for c in ast.walk(made) if isinstance(c, ast.Call)]
        for item in {SERVER_FACTORIES.get(ast.unparse(c.func).split(".")[-1], -1) for c in calls} - {-1}:
            for t in targets:
                if item is not None and isinstance(t, ast.Tuple) and len(t.elts) > item:
                    t = t.elts[item]
                servers.update(_names_in(t))
    return servers, hosts


def server_reads(root: pathlib.Path = ROOT) -> list[str]:
    """Reads, outside the server module, of a server's attribute beyond its public side, through a name bound to
    a server (SERVER_NAMES, an annotation, an assignment from BenchServer, ``x.server``) or
    through a host (``x.host`` or a name annotated Host), where only the bench service's Host protocol may be
    read. Only the server's own members count, so ``daemon.kill()`` on the soak's process handle is no read."""
    mods = read_modules(root)
    trees = {m: ast.parse(p.read_text(), str(p)) for m, p in mods.items()}
    host = _members(trees["simhw.control.bench_service"], "Host")
    members = _members(trees[SERVER], "BenchServer")
    out = []
    for m, t in trees.items():
        if m == SERVER:
            continue
        servers, hosts = _server_bound(t)
        for n in ast.walk(t):
            if not isinstance(n, ast.Attribute) or n.attr not in members:
                continue
            holder = _holder(n.value)
            allowed = SERVER_INTERFACE if holder in servers else host if holder in hosts else None
            if allowed is not None and n.attr not in allowed:
                out.append(f"{mods[m].relative_to(root)}:{n.lineno}: reads the server's .{n.attr}")
    return out


def test_no_module_outside_the_server_reads_its_attributes():
    assert server_reads() == []


@pytest.mark.parametrize(
    "where, line",
    [
        ("simhw/control/scheduler.py", "def _peek(bench):\n    return bench.host.outbox.qsize()\n"),
        ("simhw/app/embedded.py", "def _queued(daemon):\n    return len(daemon.jobs)\n"),
    ],
)
def test_a_read_of_the_servers_attributes_is_caught(tmp_path, where, line):
    copy_tree(tmp_path)
    assert server_reads(tmp_path) == []
    target = tmp_path / where
    target.write_text(target.read_text() + "\n" + line)
    assert any(where in v for v in server_reads(tmp_path))


@pytest.mark.parametrize(
    "where, line, attrs",
    [
        (
            "simhw/app/embedded.py",
            "def _server_keys(server):\n    return server.curve, server.ctx, server.config\n",
            {"curve", "ctx", "config"},
        ),
        ("simhw/app/demo.py", "def _stopping(s: BenchServer):\n    return s._stop.is_set()\n", {"_stop"}),
        (
            "simhw/app/hil.py",
            "def _ctx(service):\n    d = BenchServer(service)\n    return d.bench.store, d.ctx\n",
            {"bench", "ctx"},
        ),
        ("simhw/app/cli.py", "def _go(srv):\n    self.srv = srv\n    self.srv._worker()\n", set()),
        ("simhw/app/cli.py", "def _go(cfg):\n    self.srv = BenchServer(cfg)\n    self.srv._worker()\n", {"_worker"}),
        ("simhw/control/bench_service.py", "def _reply(self):\n    self.host.send([b'x'])\n", {"send"}),
        ("simhw/control/scheduler.py", "def _all(bench):\n    return bench.host.__init__\n", {"__init__"}),
    ],
)
def test_every_read_beyond_the_servers_public_side_is_caught(tmp_path, where, line, attrs):
    """Any of the server's members, public or not, read through whatever holds a server (a ``server`` or
    ``daemon`` variable, a name annotated or built as one) or a host, other than
    what SERVER_INTERFACE or the Host protocol allow; a name not bound to a server is not checked."""
    copy_tree(tmp_path)
    target = tmp_path / where
    target.write_text(target.read_text() + "\n" + line)
    found = server_reads(tmp_path)
    assert {v.rsplit(".", 1)[1] for v in found if where in v} == attrs, found
