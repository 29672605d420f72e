"""The README's "Layout" block lists exactly the package's folders and modules, and its contents line
links every section.

The Layout block is the first fenced block under "## Layout". Each line is a name, two or more
spaces, and a description. A folder's name ends in "/", a module's in ".py". A name is relative
to the folder above it, and each level is indented two more spaces than that folder. The first
line is the package itself, "src/sentiment_neuron/". Listed: every folder under the package
(except __pycache__) and every .py file except __init__.py and __main__.py.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PACKAGE = ROOT / "src" / "sentiment_neuron"
PACKAGE_LINE = "src/sentiment_neuron/"
UNLISTED_FILES = {"__init__.py", "__main__.py"}
SKIPPED_PARTS = {"__pycache__", "tests"}


def layout_block(text: str) -> list[str]:
    """The lines of the first fenced block after the "## Layout" heading."""
    section = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, 'README.md has no "## Layout" section'
    block = re.search(r"^```[^\n]*\n(.*?)^```", section.group(1), re.M | re.S)
    assert block, 'README.md\'s "Layout" section has no fenced block'
    return block.group(1).splitlines()


def parse_layout(lines: list[str]) -> list[str]:
    """Paths relative to the package ("data/", "data/corpus.py"), in the block's order.

    Raises AssertionError naming the line when a line breaks the form.
    """
    paths: list[str] = []
    stack: list[str] = []  # the folder names above the current line
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"README.md Layout block, line {number}: {line.strip()!r}"
        match = re.fullmatch(r"( *)(\S+)( {2,}|\t+)(\S.*)", line)
        assert match, f"{where}: expected 'NAME  description' (two or more spaces between)"
        indent, name = len(match.group(1)), match.group(2)
        assert indent % 2 == 0, f"{where}: indent by two spaces per level"
        level = indent // 2
        if not paths:
            assert level == 0, f"{where}: the first line must be {PACKAGE_LINE!r}, unindented"
            assert name == PACKAGE_LINE, f"{where}: the first line must be {PACKAGE_LINE!r}"
            stack = [name]
            paths.append("")
            continue
        assert level >= 1, f"{where}: only the first line ({PACKAGE_LINE}) is unindented"
        assert level <= len(stack), f"{where}: indented deeper than under the folder above it"
        assert name.endswith("/") or name.endswith(".py"), f"{where}: a folder ends in '/', a module in '.py'"
        assert "/" not in name.rstrip("/"), f"{where}: give the name relative to its folder, nested by indentation"
        stack = stack[:level]
        path = "".join(stack[1:]) + name
        assert path not in paths, f"{where}: {path} is listed twice"
        paths.append(path)
        if name.endswith("/"):
            stack.append(name)
    return [p for p in paths if p]


def package_tree() -> set[str]:
    """The package's folders ("data/") and modules ("data/corpus.py"), relative to it."""
    found = set()
    for path in PACKAGE.rglob("*"):
        rel = path.relative_to(PACKAGE)
        if SKIPPED_PARTS & set(rel.parts) or any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_dir():
            found.add(rel.as_posix() + "/")
        elif path.suffix == ".py" and path.name not in UNLISTED_FILES:
            found.add(rel.as_posix())
    return found


def test_the_layout_block_lists_every_folder_and_module_of_the_package():
    listed = set(parse_layout(layout_block(README.read_text(encoding="utf-8"))))
    tree = package_tree()
    missing, extra = sorted(tree - listed), sorted(listed - tree)
    problems = []
    if missing:
        problems.append("not in README.md's Layout block (add a line each, under its folder):\n  "
                        + "\n  ".join(f"src/sentiment_neuron/{p}" for p in missing))
    if extra:
        problems.append("listed in README.md's Layout block but not in the tree (remove or rename):\n  "
                        + "\n  ".join(f"src/sentiment_neuron/{p}" for p in extra))
    assert not problems, "\n".join(problems)


def test_the_parser_refuses_a_malformed_block():
    good = [PACKAGE_LINE + "  the package", "  data/  data", "    corpus.py  a corpus"]
    assert parse_layout(good) == ["data/", "data/corpus.py"]
    for bad in ([PACKAGE_LINE + "  p", "  data/ one space"], [PACKAGE_LINE + "  p", "      deep.py  too deep"],
                [PACKAGE_LINE + "  p", "  notes.txt  not a module"], [PACKAGE_LINE + "  p", "  data/corpus.py  a path"],
                ["  data/  no package line"]):
        try:
            parse_layout(bad)
        except AssertionError:
            continue
        raise AssertionError(f"accepted {bad!r}")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_contents_line_links_every_section():
    text = README.read_text(encoding="utf-8")
    sections = {_anchor(h) for h in re.findall(r"^## (.+)$", text, re.M)}
    contents = re.search(r"^Contents:\n(.*?)\n\n", text, re.M | re.S)
    assert contents, "README.md has no 'Contents:' paragraph after its introduction"
    linked = set(re.findall(r"\]\(#([^)]+)\)", contents.group(1)))
    assert linked == sections, (f"contents links without a section: {sorted(linked - sections)}; "
                                f"sections not in the contents: {sorted(sections - linked)}")
