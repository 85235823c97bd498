"""Every command the docs show runs, as written, and every CLI option the guide lists exists.

Each Markdown file's ```bash blocks run in order with ``bash -e`` in one scratch directory holding
a copy of ``examples/`` (so state carries from block to block, as for a reader); ```python blocks
are executed there too, and ```toml blocks must be valid bench files. The README's first block is
the install line and the test command: the install is what CI itself does, and the test command
is this suite; the demo after ``&&`` is run here. The guide's quick start runs ``simhw demo --quick``, and
its report is checked with :func:`quick_demo_checks.check_quick_demo_report`.
"""

import contextlib
import io
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
from quick_demo_checks import check_quick_demo_report

from simhw.values.bench_config import BenchConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```(bash|python|toml)\n(.*?)```", re.S)


def blocks(path: pathlib.Path):
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(path.read_text())]


def scratch(tmp_path) -> pathlib.Path:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "out").mkdir()
    return tmp_path


def bash(script: str, cwd: pathlib.Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    bindir = pathlib.Path(sys.executable).parent
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def readme_first_block(script: str) -> str:
    lines = []
    for line in script.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("pip install") and "&&" in line:
            lines.append(line.split("&&", 1)[1].strip())
        elif line and not line.startswith("python -m pytest"):
            lines.append(line)
    return "\n".join(lines)


@pytest.mark.parametrize("doc", [p for p in DOCS if any(k != "toml" for k, _ in blocks(p))], ids=lambda p: p.name)
def test_every_command_in_the_docs_runs(doc, tmp_path, monkeypatch):
    cwd = scratch(tmp_path)
    monkeypatch.chdir(cwd)
    ran, stderr = 0, []
    for i, (kind, code) in enumerate(blocks(doc)):
        if kind == "bash":
            script = readme_first_block(code) if (doc.name == "README.md" and i == 0) else code
            r = bash(script, cwd)
            assert r.returncode == 0, f"{doc.name} block {i} failed:\n{script}\n--- stderr ---\n{r.stderr[-3000:]}"
            stderr.append(r.stderr)
            ran += 1
        elif kind == "python" and doc.name != "README.md":  # README's Python blocks: tests/test_readme.py
            exec(compile(code, f"{doc.name} block {i}", "exec"), {})
            ran += 1
    assert ran
    if doc.name == "guide.md":  # its quick start runs the quick demo: the suite's one run of it is checked here
        check_quick_demo_report(cwd / "out" / "demo", "".join(stderr))


def test_toml_examples_are_valid_bench_files():
    found = 0
    for doc in DOCS:
        for kind, code in blocks(doc):
            if kind == "toml":
                BenchConfig.from_dict(tomllib.loads(code)).validate()
                found += 1
    assert found >= 1


def test_every_option_in_the_command_reference_is_in_the_help():
    guide = (ROOT / "docs" / "guide.md").read_text()
    section = guide.split("## Command reference", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `simhw ([a-z ]+)` \| (.*) \|$", section, re.M)
    assert len(rows) >= 12
    import simhw.app.cli

    top = simhw.app.cli.build_parser()
    commands = set(top._subparsers._group_actions[0].choices)
    documented = {r[0].split()[0] for r in rows}
    assert commands == documented, commands ^ documented  # every command is in the reference, and only those
    for command, options in rows:
        out = io.StringIO()  # what `simhw COMMAND --help` prints, from the parser the CLI runs
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
            simhw.app.cli.build_parser().parse_args([*command.split(), "--help"])
        assert done.value.code == 0
        for opt in re.findall(r"`([^`]+)`", options):
            assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", out.getvalue()), (
                f"simhw {command}: {opt} not in --help"
            )


def _anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_docs_have_no_broken_links():
    checked = 0
    for doc in DOCS:
        text = doc.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
                continue
            path, _, anchor = target.partition("#")
            dest = (doc.parent / path).resolve() if path else doc
            assert dest.exists(), f"{doc.name}: broken link {target}"
            if anchor:
                headings = re.findall(r"^#+ (.*)$", dest.read_text(), re.M)
                assert anchor in {_anchor(h) for h in headings}, f"{doc.name}: no heading for #{anchor} in {dest.name}"
            checked += 1
    assert checked >= 5
