"""The package as pip sees it: the wheel and sdist that `python -m build` makes, and the client-only
install (no extras), whose `vaultauth` command names the extra to install instead of crashing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

import pytest

import vaultauth
from vaultauth import entry

ROOT = Path(__file__).resolve().parents[2]
HINT = "vaultauth: the command line needs the server extra: pip install 'vaultauth[server]'"
# Distribution names of the server extra whose import name differs.
IMPORT_NAMES = {
    "pydantic-settings": "pydantic_settings",
    "prometheus-client": "prometheus_client",
    "swagger-ui-bundle": "swagger_ui_bundle",
}


def _requirement_name(requirement: str) -> str:
    for stop in "[<>=!~; ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.lower()


def test_the_entry_point_checks_every_module_of_the_server_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    server = {_requirement_name(r) for r in project["optional-dependencies"]["server"]}
    assert {IMPORT_NAMES.get(name, name) for name in server} == set(entry.SERVER_MODULES)
    assert project["scripts"]["vaultauth"] == "vaultauth.entry:main"


def test_a_missing_server_module_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(entry, "find_spec", lambda name: None if name == "typer" else object())
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"{HINT} (missing: typer)\n"


@dataclass
class Built:
    wheel: Path
    sdist: Path
    venv: Path


def _run(*args: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULTAUTH_", "PYTHON"))}
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env=env,
    )


@pytest.fixture(scope="module")
def built() -> Iterator[Built]:
    """Wheel and sdist of this checkout, the wheel installed without extras in a fresh venv."""
    with tempfile.TemporaryDirectory(prefix="vaultauth-packaging-") as tmp:
        work = Path(tmp)
        dist = work / "dist"
        # The sdist first, then the wheel built from the unpacked sdist: a file missing from the
        # sdist is missing from the wheel too.
        made = _run(sys.executable, "-m", "build", "--outdir", dist, ROOT, cwd=work, timeout=180)
        assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
        (wheel,) = dist.glob("vaultauth-*.whl")
        (sdist,) = dist.glob("vaultauth-*.tar.gz")
        env_dir = work / "venv"
        venv.create(env_dir, with_pip=True)
        pip = _run(env_dir / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=work)
        assert pip.returncode == 0, pip.stderr[-3000:]
        yield Built(wheel=wheel, sdist=sdist, venv=env_dir)


def _metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return HeaderParser().parsestr(archive.read(name).decode())


@pytest.mark.slow
@pytest.mark.parametrize("command", [["bin/vaultauth"], ["bin/python", "-m", "vaultauth"]])
def test_the_command_on_a_client_only_install_names_the_extra(
    built: Built, command: list[str]
) -> None:
    # cwd outside the checkout, so `-m vaultauth` cannot pick up the source tree.
    result = _run(built.venv / command[0], *command[1:], "--help", cwd=built.venv)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(HINT)
    assert "typer" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_client_library_imports_without_the_server_stack(built: Built) -> None:
    code = (
        "import importlib.util, vaultauth, vaultauth.client; "
        "assert importlib.util.find_spec('typer') is None; "
        "assert importlib.util.find_spec('fastapi') is None; "
        "print(vaultauth.__version__, vaultauth.client.IntegrationAuth.__name__)"
    )
    result = _run(built.venv / "bin" / "python", "-c", code, cwd=built.venv)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [vaultauth.__version__, "IntegrationAuth"]


@pytest.mark.slow
def test_the_wheel_metadata(built: Built) -> None:
    metadata = _metadata(built.wheel)
    assert metadata["Name"] == "vaultauth"
    assert metadata["Version"] == vaultauth.__version__
    assert built.wheel.name == f"vaultauth-{vaultauth.__version__}-py3-none-any.whl"
    assert built.sdist.name == f"vaultauth-{vaultauth.__version__}.tar.gz"
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3 :: Only" in classifiers
    assert metadata["License-Expression"] == "MPL-2.0"
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Repository", "Issues", "Changelog"} <= set(urls)
    assert metadata["Keywords"]
    assert metadata["Author"]
    # The client-only install pulls in httpx and pydantic, nothing else.
    unconditional = [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert sorted(_requirement_name(r) for r in unconditional) == ["httpx", "pydantic"]
    with zipfile.ZipFile(built.wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        assert "vaultauth = vaultauth.entry:main" in archive.read(name).decode()


@pytest.mark.slow
def test_the_sdist_and_wheel_carry_migrations_and_policies(built: Built) -> None:
    package = ROOT / "vaultauth"
    needed = [
        *(package / "index" / "migrations").glob("*.py"),
        *(package / "index" / "migrations" / "versions").glob("*.py"),
        *(package / "policies").glob("*.hcl"),
        package / "py.typed",
    ]
    assert any(p.suffix == ".hcl" for p in needed)
    assert any(p.parent.name == "versions" and p.name[0].isdigit() for p in needed)
    relative = {p.relative_to(ROOT).as_posix() for p in needed}
    with tarfile.open(built.sdist) as archive:
        top = f"vaultauth-{vaultauth.__version__}/"
        in_sdist = {n.removeprefix(top) for n in archive.getnames()}
    assert relative <= in_sdist, relative - in_sdist
    assert {"LICENSE", "CHANGELOG.md", "README.md"} <= in_sdist
    with zipfile.ZipFile(built.wheel) as archive:
        in_wheel = set(archive.namelist())
    assert relative <= in_wheel, relative - in_wheel
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in in_wheel), "the license text"
