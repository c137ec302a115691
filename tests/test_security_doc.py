"""docs/security.md, the OWASP ASVS 5.0.0 level 2 map, stays true to the tests.

Every ``tests/<file>.py::<test>`` the document names must be a test function
defined in that file. The test files are read with ``ast``, never imported, so
nothing here depends on their fixtures or side effects. The document must also
keep one row per level 1 and level 2 requirement of its five chapters, use only
the four statuses it defines, and state the counts its rows add up to.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "security.md"

STATUSES = ("Met", "Partly met", "Not met", "Not applicable")
# Met rows prove themselves with tests, or say in so many words that none does.
NEEDS_EVIDENCE = {"Met", "Partly met"}
NO_TEST = "No test"

# Every level 1 and level 2 requirement of the mapped chapters in ASVS 5.0.0
# (tag v5.0.0_release of OWASP/ASVS). Level 3 only requirements are left out.
LEVEL_1_AND_2 = {
    "3": "3.2.1 3.2.2 3.3.1 3.3.2 3.3.3 3.3.4 3.4.1 3.4.2 3.4.3 3.4.4 3.4.5 3.4.6 "
         "3.5.1 3.5.2 3.5.3 3.5.4 3.5.5 3.7.1 3.7.2",
    "6": "6.1.1 6.1.2 6.1.3 6.2.1 6.2.2 6.2.3 6.2.4 6.2.5 6.2.6 6.2.7 6.2.8 6.2.9 "
         "6.2.10 6.2.11 6.2.12 6.3.1 6.3.2 6.3.3 6.3.4 6.4.1 6.4.2 6.4.3 6.4.4 "
         "6.5.1 6.5.2 6.5.3 6.5.4 6.5.5 6.6.1 6.6.2 6.6.3 6.8.1 6.8.2 6.8.3 6.8.4",
    "7": "7.1.1 7.1.2 7.1.3 7.2.1 7.2.2 7.2.3 7.2.4 7.3.1 7.3.2 7.4.1 7.4.2 7.4.3 "
         "7.4.4 7.4.5 7.5.1 7.5.2 7.6.1 7.6.2",
    "8": "8.1.1 8.1.2 8.2.1 8.2.2 8.2.3 8.3.1 8.4.1",
    "16": "16.1.1 16.2.1 16.2.2 16.2.3 16.2.4 16.2.5 16.3.1 16.3.2 16.3.3 16.3.4 "
          "16.4.1 16.4.2 16.4.3 16.5.1 16.5.2 16.5.3",
}

# A requirement row: | 6.2.1 | L1 | requirement | status | how | tests |
REQUIREMENT_ROW = re.compile(r"^\|\s*(\d+\.\d+\.\d+)\s*\|")
# A summary row: | V6 Authentication | met | partly | not met | n/a | total |
SUMMARY_ROW = re.compile(r"^\|\s*V(\d+)\b[^|]*((?:\|\s*\d+\s*){5})\|\s*$")
# A test reference, with an optional class and an (unwanted) parameter id.
TEST_REFERENCE = re.compile(r"tests/([\w/]+\.py)::(\w+)(?:::(\w+))?(\[[^\]`]*\])?")


@dataclass(frozen=True)
class Row:
    line: int
    requirement: str
    level: str
    status: str
    text: str

    @property
    def chapter(self) -> str:
        return self.requirement.split(".")[0]


@cache
def document() -> str:
    return DOC.read_text(encoding="utf-8")


@cache
def rows() -> tuple[Row, ...]:
    found = []
    for number, line in enumerate(document().splitlines(), start=1):
        if not REQUIREMENT_ROW.match(line):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 6, f"line {number}: expected 6 cells, got {len(cells)}: {line}"
        found.append(Row(number, cells[0], cells[1], cells[3], line))
    return tuple(found)


@cache
def defined_test_names(relative: str) -> frozenset[str]:
    """``name`` and ``Class::name`` of every test function in a test file."""
    tree = ast.parse((ROOT / "tests" / relative).read_text(encoding="utf-8"))
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    names = {node.name for node in tree.body if isinstance(node, functions)}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names |= {f"{node.name}::{item.name}" for item in node.body
                      if isinstance(item, functions)}
    return frozenset(name for name in names if name.rsplit("::", 1)[-1].startswith("test"))


def references() -> list[tuple[str, str, str | None]]:
    """(file, test, parameter id or None) of every test the document names."""
    found = []
    for match in TEST_REFERENCE.finditer(document()):
        relative, first, second, parameters = match.groups()
        found.append((relative, f"{first}::{second}" if second else first, parameters))
    return found


def test_the_document_names_tests():
    assert len(references()) >= len(LEVEL_1_AND_2)


def test_every_test_the_document_names_exists():
    missing = []
    for relative, name, _ in references():
        path = ROOT / "tests" / relative
        if not path.is_file():
            missing.append(f"tests/{relative} (no such file)")
        elif name not in defined_test_names(relative):
            missing.append(f"tests/{relative}::{name}")
    assert missing == [], f"docs/security.md names tests that do not exist: {missing}"


def test_tests_are_named_without_their_parameters():
    bracketed = [f"tests/{relative}::{name}{parameters}"
                 for relative, name, parameters in references() if parameters]
    assert bracketed == []


def test_every_chapter_has_rows():
    chapters = Counter(row.chapter for row in rows())
    assert all(chapters[chapter] >= 1 for chapter in LEVEL_1_AND_2), chapters


def test_every_level_1_and_2_requirement_has_exactly_one_row():
    counted = Counter(row.requirement for row in rows())
    expected = {requirement for ids in LEVEL_1_AND_2.values() for requirement in ids.split()}
    assert sorted(expected - set(counted)) == [], "requirements without a row"
    assert sorted(set(counted) - expected) == [], "rows for requirements not in scope"
    assert [req for req, count in counted.items() if count > 1] == [], "duplicate rows"


def test_every_row_has_a_level_and_a_known_status():
    bad = [(row.line, row.requirement, row.level, row.status) for row in rows()
           if row.level not in {"L1", "L2"} or row.status not in STATUSES]
    assert bad == []


def test_met_rows_name_a_test_or_say_that_none_does():
    unproven = [(row.line, row.requirement) for row in rows()
                if row.status in NEEDS_EVIDENCE
                and not TEST_REFERENCE.search(row.text) and NO_TEST not in row.text]
    assert unproven == []


def test_the_summary_counts_match_the_rows():
    stated = {}
    for line in document().splitlines():
        match = SUMMARY_ROW.match(line)
        if match:
            numbers = [int(n) for n in re.findall(r"\d+", match.group(2))]
            stated[match.group(1)] = dict(zip((*STATUSES, "Total"), numbers, strict=True))
    actual = {}
    for chapter in LEVEL_1_AND_2:
        statuses = Counter(row.status for row in rows() if row.chapter == chapter)
        actual[chapter] = {**{status: statuses[status] for status in STATUSES},
                           "Total": sum(statuses.values())}
    assert stated == actual
