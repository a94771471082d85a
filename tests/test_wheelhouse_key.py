"""roles/python_venv/files/wheelhouse_key.py: the digest that lets a run skip building the wheelhouse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "roles" / "python_venv" / "files" / "wheelhouse_key.py"


def key(*inputs: str | Path) -> str:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, inputs)], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_the_digest_follows_the_sources_and_nothing_else(tmp_path: Path) -> None:
    project = tmp_path / "app"
    (project / "src" / "app").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    (project / "src" / "app" / "__init__.py").write_text("VALUE = 1\n")
    first = key("requests==2.32.3", project)
    assert len(first) == 64 and key("requests==2.32.3", project) == first

    # Build outputs, caches and virtualenvs are not inputs.
    for junk in (".venv/bin/python", "src/app.egg-info/PKG-INFO", "src/app/__pycache__/x.pyc", "build/lib/x"):
        (project / junk).parent.mkdir(parents=True, exist_ok=True)
        (project / junk).write_text("junk")
    assert key("requests==2.32.3", project) == first

    # A changed source file, a new one, another pin: another digest.
    (project / "src" / "app" / "__init__.py").write_text("VALUE = 2\n")
    second = key("requests==2.32.3", project)
    assert second != first
    (project / "src" / "app" / "extra.py").write_text("")
    assert key("requests==2.32.3", project) not in (first, second)
    assert key("requests==2.32.4", project) != key("requests==2.32.3", project)
