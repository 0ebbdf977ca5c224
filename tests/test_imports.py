"""The import rules of CONTRIBUTING.md and docs/DESIGN.md, read from the source files.

Every import counts, function-local and ``TYPE_CHECKING`` ones included: a cycle dodged by
importing late is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("refdata", "models", "simulator", "services", "streaming", "amlscreen", "bench")

# What the bottom packages may import of ours.
BOTTOM = {"refdata": (), "models": ("refdata",), "simulator": ("refdata",)}

# (package, a package it must never import, why)
FORBIDDEN = [
    *(
        (package, other, f"{package} may import of ours only: {', '.join(allowed) or 'nothing'}")
        for package, allowed in BOTTOM.items()
        for other in OURS
        if other != package and other not in allowed
    ),
    ("services", "streaming", "the worker imports services, never the reverse"),
    # The subject profile (services.subjects) reads alerts and cases; alerts and cases never
    # read it back (the subject summary shown with an alert or a case is services.alerts.subjects).
    ("services.alerts", "services.subjects", "subjects is the layer above alerts"),
    ("services.cases", "services.subjects", "subjects is the layer above cases"),
]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Returns (line, module) for every import of the file, at any depth."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            assert node.module is not None
            found.append((node.lineno, node.module))
    return found


def is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def source_files(package: str) -> list[Path]:
    return sorted(ROOT.joinpath(*package.split(".")).rglob("*.py"))


def violations(package: str, forbidden: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in source_files(package)
        for line, module in imported_modules(path)
        if is_within(module, forbidden)
    ]


@pytest.mark.parametrize(
    ("package", "forbidden", "why"),
    FORBIDDEN,
    ids=[f"{package}-not-{forbidden}" for package, forbidden, _ in FORBIDDEN],
)
def test_package_never_imports(package: str, forbidden: str, why: str) -> None:
    assert source_files(package), f"no source files under {package}"
    assert violations(package, forbidden) == [], why
