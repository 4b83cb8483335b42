"""Every runnable example in README.md and docs/**/*.md, executed against a real local stack.

The convention (tests/support/doc_blocks.py): fenced `sh`, `bash` and `python` blocks run, in
page order, unless the line before the fence is `<!-- not-run: <reason> -->`. Each block runs
on its own: `bash -euo pipefail` or a fresh `python` of the venv, with a per-page temp dir as
cwd (shared by that page's blocks), within BLOCK_TIMEOUT seconds, its process group killed
afterwards. The environment: HOST, KEY, BASE, ECHO_URL, TOKEN_URL, VAULT_ADDR, VAULT_TOKEN and
the facade's VAULTAUTH_* settings (tests/docs/conftest.py). Pages are collected when the tests
are, so a new page is picked up without a change here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docs.conftest import VENV_BIN, DocStack
from tests.support.doc_blocks import Block, doc_pages, parse

ROOT = Path(__file__).resolve().parents[2]
BLOCK_TIMEOUT = 60.0
TAIL_CHARS = 2500


def _relative(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _pages_to_run() -> list[Path]:
    """Pages with a block to run, or a marker problem (so the page test reports it)."""
    pages = []
    for page in doc_pages(ROOT):
        parsed = parse(page.read_text(encoding="utf-8"))
        if parsed.runnable or parsed.problems:
            pages.append(page)
    return pages


PAGES = _pages_to_run()


@dataclass(frozen=True)
class Outcome:
    block: Block
    exit_code: int | None  # None: killed on timeout
    stdout: str
    stderr: str
    seconds: float

    @property
    def failed(self) -> bool:
        return self.exit_code != 0


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the block's process group (it ran in a session of its own), leftovers too."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_block(
    block: Block, env: dict[str, str], cwd: Path, scratch: Path, timeout: float = BLOCK_TIMEOUT
) -> Outcome:
    """Run one block in `cwd`; its script and output files live in `scratch`."""
    if block.language == "python":
        script = scratch / f"block_L{block.line}.py"
        command = [str(VENV_BIN / "python"), str(script)]
    else:
        script = scratch / f"block_L{block.line}.sh"
        command = ["bash", "-euo", "pipefail", str(script)]
    script.write_text(block.text, encoding="utf-8")
    stdout_path = scratch / f"block_L{block.line}.out"
    stderr_path = scratch / f"block_L{block.line}.err"
    started = time.monotonic()
    # Files, not pipes: a background child that keeps a pipe open cannot hang the run.
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            exit_code: int | None = process.wait(timeout)
        except subprocess.TimeoutExpired:
            exit_code = None
        finally:
            _kill_group(process)
            process.wait(10)
    return Outcome(
        block=block,
        exit_code=exit_code,
        stdout=stdout_path.read_text(errors="replace"),
        stderr=stderr_path.read_text(errors="replace"),
        seconds=time.monotonic() - started,
    )


def _tail(text: str) -> str:
    text = text.rstrip()
    if not text:
        return "(empty)"
    return text if len(text) <= TAIL_CHARS else "…" + text[-TAIL_CHARS:]


def _report(page: str, outcome: Outcome) -> str:
    block = outcome.block
    status = (
        f"killed after {BLOCK_TIMEOUT:.0f} s"
        if outcome.exit_code is None
        else f"exit code {outcome.exit_code}"
    )
    return "\n".join(
        [
            f"{page}:{block.line}: the ```{block.language} block failed ({status}, "
            f"{outcome.seconds:.1f} s)",
            "--- block ---",
            block.text.rstrip(),
            "--- stdout (tail) ---",
            _tail(outcome.stdout),
            "--- stderr (tail) ---",
            _tail(outcome.stderr),
        ]
    )


@pytest.mark.parametrize("page", PAGES, ids=[_relative(page) for page in PAGES])
def test_page_examples_run(page: Path, doc_stack: DocStack, tmp_path: Path) -> None:
    name = _relative(page)
    parsed = parse(page.read_text(encoding="utf-8"))
    problems = [f"{name}:{p.line}: {p.message}" for p in parsed.problems]
    cwd = tmp_path / "cwd"
    scratch = tmp_path / "scratch"
    cwd.mkdir()
    scratch.mkdir()
    outcomes = [run_block(block, doc_stack.env, cwd, scratch) for block in parsed.runnable]
    reports = problems + [_report(name, o) for o in outcomes if o.failed]
    if not outcomes and not problems:
        reports.append(f"{name}: ran no block, yet it was collected as a page with examples")
    if reports:
        failed = sum(o.failed for o in outcomes)
        summary = f"{name}: {failed} of {len(outcomes)} blocks failed; {len(problems)} problems"
        if failed:
            reports.append(f"--- the facade's log (tail) ---\n{doc_stack.facade_log_tail()}")
        pytest.fail("\n\n".join([summary, *reports]), pytrace=False)


def test_markers_have_reasons_and_sit_right_before_a_fence() -> None:
    """Every page, runnable blocks or not: a not-run marker with no reason, or one that does
    not sit on the line right before a fence, or a fence whose language looks runnable but is
    not (`shell`, `py`), is a problem."""
    problems = [
        f"{_relative(page)}:{problem.line}: {problem.message}"
        for page in doc_pages(ROOT)
        for problem in parse(page.read_text(encoding="utf-8")).problems
    ]
    assert not problems, "\n".join(problems)


def test_the_pages_are_found() -> None:
    """The collection sees README.md and the docs folder, and some page has examples to run,
    so a broken glob or parser cannot make this file pass by running nothing."""
    names = {_relative(page) for page in doc_pages(ROOT)}
    assert "README.md" in names
    assert "docs/rotation.md" in names
    assert "docs/oauth.md" in names
    assert {_relative(page) for page in PAGES} >= {"docs/rotation.md", "docs/oauth.md"}


SAMPLE = """\
# A page

```sh
echo one
```
<!-- not-run: starts the long-running dev server -->
```bash
vaultauth dev
```

```text
not run: text
```
```json
{"not": "run"}
```
```console
$ not run either
```
```
no info string: never runs
```
~~~python
print("tilde fence")
~~~
````python title="example.py"
print("four backticks")
```
still inside the four-backtick block
```
````

- a list item:

    ```bash
    echo "indented in a list"
    ```

```yaml
<!-- not-run: inside a fence this is text, not a marker -->
```
Prose that mentions the marker `<!-- not-run: reason -->` is not one.
<!-- not-run -->
```sh
echo "a marker without a reason"
```
<!-- not-run: a reason, but a blank line follows -->

```sh
echo "runs, and the marker above is reported"
```
```shell
echo "looks runnable, is not"
```
```Python
print("case does not matter")
```
"""


def test_the_extractor_finds_and_skips_the_right_blocks() -> None:
    page = parse(SAMPLE)
    runnable = [(b.line, b.language, b.text) for b in page.runnable]
    assert runnable == [
        (3, "sh", "echo one\n"),
        (23, "python", 'print("tilde fence")\n'),
        (26, "python", 'print("four backticks")\n```\nstill inside the four-backtick block\n```\n'),
        (35, "bash", 'echo "indented in a list"\n'),
        (49, "sh", 'echo "runs, and the marker above is reported"\n'),
        (55, "python", 'print("case does not matter")\n'),
    ]
    skipped = {b.line: b.not_run for b in page.blocks if b.not_run is not None}
    assert skipped == {7: "starts the long-running dev server", 44: ""}
    languages = [b.language for b in page.blocks if not b.runs]
    assert languages == ["bash", "text", "json", "console", "", "yaml", "sh", "shell"]
    assert [(p.line, p.message.split(":")[0]) for p in page.problems] == [
        (43, "a not-run marker without a reason"),
        (47, "a not-run marker must be the line right before a fence"),
        (52, "```shell never runs"),
    ]


def test_an_unclosed_fence_is_a_problem() -> None:
    page = parse("text\n```sh\necho never closed\n")
    assert [p.line for p in page.problems] == [2]
    assert page.blocks[0].text == "echo never closed\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"


@pytest.mark.parametrize("ending", ["timeout", "exit"])
def test_a_block_and_what_it_started_are_killed(ending: str, tmp_path: Path) -> None:
    """On timeout the block is killed (exit code None); a process it left behind in the
    background is killed either way, so no example outlives its test."""
    wait = "sleep 30" if ending == "timeout" else "true"
    block = Block(1, "sh", f"sleep 30 &\necho $! > bg.pid\n{wait}\n", None)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    started = time.monotonic()
    outcome = run_block(block, env, tmp_path, tmp_path, timeout=1)
    assert time.monotonic() - started < 10
    assert outcome.exit_code == (None if ending == "timeout" else 0)
    pid = int((tmp_path / "bg.pid").read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_a_python_block_runs_in_the_venv_and_reports_its_failure(tmp_path: Path) -> None:
    block = Block(
        7, "python", "import sys, vaultauth\nprint(sys.prefix)\nraise SystemExit(4)\n", None
    )
    outcome = run_block(block, {"PATH": os.environ.get("PATH", "")}, tmp_path, tmp_path)
    assert outcome.exit_code == 4
    assert outcome.stdout.strip() == str(Path(sys.prefix))
    report = _report("docs/x.md", outcome)
    assert report.startswith("docs/x.md:7: the ```python block failed (exit code 4")
    assert "raise SystemExit(4)" in report


STACK_CONTRACT = """\
test "$(command -v vaultauth)" = "$VENV_BIN/vaultauth"
test "$(command -v python)" = "$VENV_BIN/python"
curl -sf "$HOST/healthz" > /dev/null
test "$BASE" = "$HOST/v1/integrations/intg_demo/auth"
curl -sf "$BASE" -H "X-API-Key: $KEY" > /dev/null
curl -sf -X PUT "$ECHO_URL/some/path?a=1" -H 'X-Probe: yes' | python -c '
import json, sys
seen = json.load(sys.stdin)
assert seen["method"] == "PUT" and seen["path"] == "/some/path", seen
assert seen["query"] == {"a": "1"} and seen["headers"]["X-Probe"] == "yes", seen'
curl -sf -X POST "$TOKEN_URL" -u any-client:any-secret -d grant_type=client_credentials \
  | python -c 'import json, sys; assert json.load(sys.stdin)["token_type"] == "Bearer"'
vault token lookup > /dev/null
bao secrets list > /dev/null
vaultauth due --within 1d || [ $? -eq 3 ]
"""


def test_the_stack_gives_blocks_what_the_convention_promises(
    doc_stack: DocStack, tmp_path: Path
) -> None:
    """HOST, KEY, BASE, ECHO_URL, TOKEN_URL, the Vault CLI and the VAULTAUTH_* settings work
    from a block as the convention says (other pages' examples rely on them)."""
    env = {**doc_stack.env, "VENV_BIN": str(VENV_BIN)}
    outcome = run_block(Block(1, "bash", STACK_CONTRACT, None), env, tmp_path, tmp_path)
    assert not outcome.failed, _report("(the stack contract)", outcome)
