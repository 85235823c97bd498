"""Docstrings, comments and docs cite only what the repository holds: docs/*.md files that exist, sections of
docs/physics.md that exist, and papers of its numbered reference list, by number and short title."""

import io
import pathlib
import re
import tokenize

ROOT = pathlib.Path(__file__).resolve().parents[1]
PHYSICS = ROOT / "docs" / "physics.md"
FOLDERS = ("drivers", "sim_backend", "simhw", "calibration", "benchmarks", "tests", "examples")
OUTSIDE = re.compile(r"PHYSICS\.md|ARCHITECTURE\.md|\bseeds? 00\d|\.\./shared|\bseeds/")
DOC_PATH = re.compile(r"\bdocs/([\w-]+\.md)(?:, sec\. (\d+(?:\.\d+)?))?")
CITATION = re.compile(r"\[(\d+)\] (?=[A-Z])")


def references() -> dict[int, str]:
    """The reference list of docs/physics.md: number -> short title."""
    text = PHYSICS.read_text().split("## References", 1)[1]
    return {int(n): title for n, title in re.findall(r"^\d+\. \[(\d+)\] \*\*(.+?)\*\*", text, re.M)}


def sections() -> set[str]:
    return set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", PHYSICS.read_text(), re.M))


def prose(path: pathlib.Path) -> str:
    """What a reader sees of a file as text: a Python file's strings and comments, a Markdown file whole."""
    text = path.read_text()
    if path.suffix != ".py":
        return text
    kept = [
        t.string
        for t in tokenize.generate_tokens(io.StringIO(text).readline)
        if t.type in (tokenize.STRING, tokenize.COMMENT)
    ]
    return "\n".join(kept)


def files() -> list[pathlib.Path]:
    out = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for folder in FOLDERS:
        out += sorted(p for p in (ROOT / folder).rglob("*.py") if p.name != "test_references.py")
    return out


def problems(paths=None, refs=None, secs=None) -> list[str]:
    refs, secs = refs or references(), secs or sections()
    found = []
    for path in paths or files():
        text, name = prose(path), path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        found += [f"{name}: cites {m.group(0)!r}, outside the repository" for m in OUTSIDE.finditer(text)]
        for m in DOC_PATH.finditer(text):
            if not (ROOT / "docs" / m.group(1)).exists():
                found.append(f"{name}: docs/{m.group(1)} does not exist")
            elif m.group(2) and (m.group(1) != "physics.md" or m.group(2) not in secs):
                found.append(f"{name}: docs/{m.group(1)} has no sec. {m.group(2)}")
        for m in CITATION.finditer(text):
            n = int(m.group(1))
            if n not in refs:
                found.append(f"{name}: [{n}] is not in the reference list of docs/physics.md")
            else:
                said = " ".join(text[m.end() : m.end() + 2 * len(refs[n])].replace('"', " ").split())  # across lines
                if not said.startswith(refs[n]):
                    found.append(f"{name}: [{n}] is {refs[n]!r}, not {said[: len(refs[n])]!r}")
    return found


def test_the_reference_list_and_the_sections_are_there():
    refs = references()
    assert sorted(refs) == list(range(1, len(refs) + 1)) and len(refs) >= 5
    assert {"1", "2", "5", "5.2", "7"} <= sections()


def test_nothing_cites_a_file_outside_the_repository_or_a_paper_not_in_the_list():
    assert not problems(), "\n".join(problems())


def test_a_bad_citation_is_found(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        '"""After PHYSICS.md section 2, seed 003, [9] Unknown paper, [3] Learnable SIM, docs/nothing.md and '
        'docs/physics.md, sec. 42."""\n'
    )
    found = problems([bad])
    assert len(found) == 6, found
