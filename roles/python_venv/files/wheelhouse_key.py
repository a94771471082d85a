#!/usr/bin/env python3
"""Print a digest of what a wheelhouse is built from: the controller's Python, the requirement
specifiers, and every source file of the local projects (build outputs and caches left out).

    wheelhouse_key.py SPEC_OR_PROJECT_DIR...

An unchanged digest means an unchanged wheelhouse: the python_venv role then skips `pip wheel`
(seconds, and the package index) and the packing altogether.
"""

from __future__ import annotations

import hashlib
import os
import sys

# Produced by builds, tests and editors; none of it goes into a wheel.
SKIPPED_DIRS = frozenset(
    {".venv", "venv", "build", "dist", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git"}
)


def project_files(root: str) -> list[str]:
    """The project's files, relative to root, in a stable order."""
    found = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        found.extend(os.path.relpath(os.path.join(top, name), root) for name in files if not name.endswith(".pyc"))
    return sorted(found)


def wheelhouse_key(inputs: list[str]) -> str:
    digest = hashlib.sha256(f"python {sys.version_info[0]}.{sys.version_info[1]} {sys.platform}\n".encode())
    for item in inputs:
        if not os.path.isdir(item):
            digest.update(f"requirement {item}\n".encode())
            continue
        digest.update(f"project {os.path.basename(os.path.abspath(item))}\n".encode())
        for relpath in project_files(item):
            with open(os.path.join(item, relpath), "rb") as source:
                digest.update(f"file {relpath} {hashlib.sha256(source.read()).hexdigest()}\n".encode())
    return digest.hexdigest()


if __name__ == "__main__":
    print(wheelhouse_key(sys.argv[1:]))
