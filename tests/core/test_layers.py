"""The layers of docs/architecture.md are enforced: `make lint` runs import-linter's contracts
(pyproject.toml), and an import from a lower layer up to a higher one, a circle, or one channel
adapter reaching into another fails them, naming the import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(tree / "pyproject.toml")], cwd=tree,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def copy_of_the_code(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("layers")
    shutil.copytree(REPO / "cic_engine", tree / "cic_engine", ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(REPO / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_code_as_it_is_keeps_every_contract(copy_of_the_code):
    result = lint(copy_of_the_code)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module, line, broken, named", [
    # the store reaching up to the web layer
    ("store/sip.py", "from ..web import app as _up", "Layers", "cic_engine.store.sip -> cic_engine.web.app"),
    # a circle inside the voice package
    ("adapters/voice/config.py", "from . import adapter as _circle", "No import circles", ".config -> .adapter"),
    # one channel adapter using another's code
    ("adapters/fax.py", "from .email import EmailAdapter as _other", "Channel adapters know nothing",
     "cic_engine.adapters.fax -> cic_engine.adapters.email"),
])
def test_a_new_import_against_the_layers_fails_lint_naming_it(copy_of_the_code, module, line, broken, named):
    path = copy_of_the_code / "cic_engine" / module
    original = path.read_text()
    path.write_text(original + f"\n{line}  # noqa\n")
    try:
        result = lint(copy_of_the_code)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    verdicts = [x for x in result.stdout.splitlines() if x.endswith((" KEPT", " BROKEN"))]
    assert any(x.startswith(broken) and x.endswith(" BROKEN") for x in verdicts), verdicts
    assert named in result.stdout, result.stdout
