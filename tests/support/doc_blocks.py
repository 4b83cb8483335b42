"""The fenced blocks of a Markdown page that the docs examples test runs, and the markers that
keep one from running.

The convention (README and docs/**/*.md): a fence whose info string is `sh`, `bash` or `python`
runs, unless the line right before its opening fence is `<!-- not-run: <reason> -->`. Any other
info string (or none) never runs. Fences follow CommonMark: three or more backticks or tildes,
closed by the same character at least as many times, possibly indented (inside a list item);
markers and fences inside another fence are text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RUN_LANGUAGES = frozenset({"sh", "bash", "python"})
# Info strings that read as "run me" but are not in the convention: such a block would be
# silently left out, so they are reported as problems instead.
LOOKALIKE_LANGUAGES = frozenset({"shell", "zsh", "py", "python3"})

_OPEN = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>.*?)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*not-run\b(?P<rest>.*?)-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it opens (1-based line of the fence), its language, its text."""

    line: int
    language: str
    text: str
    not_run: str | None  # the marker's reason, when the line before the fence is a marker

    @property
    def runs(self) -> bool:
        return self.language in RUN_LANGUAGES and self.not_run is None


@dataclass(frozen=True)
class Problem:
    line: int
    message: str


@dataclass(frozen=True)
class Page:
    blocks: tuple[Block, ...]
    problems: tuple[Problem, ...]

    @property
    def runnable(self) -> tuple[Block, ...]:
        return tuple(block for block in self.blocks if block.runs)


def _closes(line: str, fence: str) -> bool:
    """A closing fence: the opening's character only, at least as many times."""
    stripped = line.strip()
    return len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def _marker_reason(rest: str) -> str | None:
    """The reason of a marker's text after `not-run`; None when there is none."""
    rest = rest.strip()
    if not rest.startswith(":"):
        return None
    reason = rest[1:].strip()
    return reason or None


def parse(markdown: str) -> Page:
    """Every fenced block of `markdown`, and every misplaced or reasonless not-run marker."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    problems: list[Problem] = []
    pending: tuple[int, str | None] | None = None  # a marker on the previous line
    index = 0
    while index < len(lines):
        line = lines[index]
        number = index + 1
        marker = _MARKER.match(line)
        opening = _OPEN.match(line)
        if opening is not None and opening["fence"][0] == "`" and "`" in opening["info"]:
            opening = None  # not a fence: CommonMark forbids backticks in a backtick info string
        if marker is not None:
            if pending is not None:
                problems.append(Problem(pending[0], "a not-run marker not followed by a fence"))
            reason = _marker_reason(marker["rest"])
            if reason is None:
                problems.append(
                    Problem(number, "a not-run marker without a reason: <!-- not-run: why -->")
                )
            pending = (number, reason)
            index += 1
            continue
        if opening is None:
            if pending is not None:
                problems.append(
                    Problem(pending[0], "a not-run marker must be the line right before a fence")
                )
                pending = None
            index += 1
            continue
        fence = opening["fence"]
        indent = len(opening["indent"])
        info = opening["info"].split()
        language = info[0].lower() if info else ""
        body: list[str] = []
        index += 1
        closed = False
        while index < len(lines):
            if _closes(lines[index], fence):
                closed = True
                index += 1
                break
            text = lines[index]
            # Drop the opening fence's indentation (a block inside a list item), no more.
            strip = min(indent, len(text) - len(text.lstrip(" ")))
            body.append(text[strip:])
            index += 1
        if not closed:
            problems.append(Problem(number, f"a fence opened with {fence} is never closed"))
        if language in LOOKALIKE_LANGUAGES:
            problems.append(
                Problem(
                    number,
                    f"```{language} never runs: write sh, bash or python "
                    "(or text/console for output)",
                )
            )
        not_run = None
        if pending is not None:
            not_run = pending[1] if pending[1] is not None else ""
            pending = None
        blocks.append(Block(number, language, "\n".join(body) + "\n", not_run))
    if pending is not None:
        problems.append(Problem(pending[0], "a not-run marker not followed by a fence"))
    return Page(tuple(blocks), tuple(problems))


def doc_pages(root: Path) -> list[Path]:
    """README.md and every page under docs/, in a stable order."""
    pages = [root / "README.md"] if (root / "README.md").is_file() else []
    pages += sorted((root / "docs").rglob("*.md"))
    return pages
