"""The README's Python examples run as written."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(monkeypatch):
    monkeypatch.chdir(README.parent)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    ns: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), ns)
    assert ns["H"].shape == (1, 4, 1)


def test_readme_starts_with_the_commands():
    lines = README.read_text().splitlines()
    cmds = [ln for ln in lines[:12] if ln.startswith(("pip ", "python "))]
    assert cmds[0].startswith("pip install -e") and "simhw demo" in cmds[0] and "pytest" in cmds[1]
