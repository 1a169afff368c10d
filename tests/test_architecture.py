"""Imports point one way (DESIGN.md): frontend_api -> backend <- indexer, scripts -> anything."""

from __future__ import annotations

import ast
from pathlib import Path

from backend.paths import REPO_ROOT

FORBIDDEN = {
    "backend": {"indexer", "frontend_api", "scripts", "tests"},
    "indexer": {"frontend_api", "scripts", "tests"},
    "frontend_api": {"indexer", "scripts", "tests"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_imports_point_one_way():
    violations = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            bad = imported_packages(path) & forbidden
            if bad:
                violations.append(f"{path.relative_to(REPO_ROOT)} imports {', '.join(sorted(bad))}")
    assert not violations, "\n".join(violations)


def test_fixed_top_level_layout():
    for name in ("contracts", "backend", "indexer", "frontend_api", "scripts", "tests", "hardhat-free-devnet",
                 "pyproject.toml"):
        assert (REPO_ROOT / name).exists(), name
