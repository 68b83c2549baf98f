"""The shape the code and docs keep: modules a reader can take in at one sitting, input functions
an editor can jump to, a README on a few screens whose every link leads somewhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "scripts" / "handbook"
MODULES = sorted(PACKAGE.rglob("*.py"))
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_under_400_lines_and_classes_under_200(path):
    source = path.read_text()
    assert len(source.splitlines()) <= 400, f"{path.name}: split it by what its functions do"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            assert node.end_lineno - node.lineno + 1 <= 200, f"{path.name}: class {node.name}"


def test_input_functions_are_plain_functions():
    """Each rule's input function is a `def get_<thing>(wildcards...)` grep finds: no dispatch
    by name, no catch-all keyword arguments."""
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert "getattr" not in common and "**_" not in common
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    used = set(re.findall(r"\b(get_[a-z_]+)\b", rules + (REPO / "workflow/Snakefile").read_text()))
    defined = set(re.findall(r"^def (get_[a-z_]+)\(", common, re.M))
    assert used == defined, (used - defined, defined - used)


def test_the_readme_fits_a_few_screens():
    assert len((REPO / "README.md").read_text().splitlines()) < 250


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_in_the_docs_leads_to_a_file(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code blocks are not links
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://|mailto:|#", target):
            continue
        path = target.split("#", 1)[0]
        assert (page.parent / path).exists(), f"{page.name}: {target}"
