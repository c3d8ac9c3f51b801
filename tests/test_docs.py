"""The docs: the API reference covers every public name, and no link leaves the repository
(``mkdocs build --strict``, in ``make test``, checks the links between the docs' pages)."""

from __future__ import annotations

import re
from pathlib import Path

import pace
import pace.errors

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)\s]+)\)|src=\"([^\"]+)\"")


def test_the_api_reference_documents_every_public_name() -> None:
    pages = "\n".join(path.read_text() for path in (DOCS / "api").glob("*.md"))
    documented = set(re.findall(r"^::: pace\.(\w+)$", pages, re.MULTILINE))
    assert "errors" in documented  # the exception tree, as a module
    exceptions = set(pace.errors.__all__)
    missing = set(pace.__all__) - documented - exceptions - {"__version__", "redis_url"}
    assert missing == set(), f"add '::: pace.NAME' to a page of docs/api/ for {sorted(missing)}"


def test_readme_and_docs_link_only_to_files_of_the_repository() -> None:
    for page in [ROOT / "README.md", *DOCS.glob("**/*.md")]:
        for match in LINK.finditer(page.read_text()):
            target = (match[1] or match[2]).split("#")[0]
            if not target:
                continue  # an anchor on the same page
            assert "://" not in target, f"{page.name} links outside: {target}"
            resolved = (page.parent / target).resolve()
            assert resolved.is_relative_to(ROOT), f"{page.name} links outside: {target}"
            assert resolved.exists(), f"{page.name} links to a missing file: {target}"


def test_the_readme_starts_with_the_two_commands_that_set_everything_up() -> None:
    commands = re.findall(r"^make \w+", (ROOT / "README.md").read_text(), re.MULTILINE)
    assert commands[:2] == ["make run", "make test"]
