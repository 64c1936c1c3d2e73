"""Every third-party module app/ imports is installed by the service's own dependencies, not
only by the dev extras: the image installs `[project.dependencies]` alone, and a module that
arrived with a test tool (httpx once did) fails the image at import time, far from here."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement(spec: str) -> tuple[str, set[str], str]:
    """(distribution, extras, marker) of a requirement string."""
    name = _NAME.match(spec)
    assert name is not None, spec
    rest = spec[name.end():]
    extras = set()
    if rest.startswith("["):
        extras = {e.strip() for e in rest[1:rest.index("]")].split(",")}
    marker = spec.split(";", 1)[1] if ";" in spec else ""
    return _canonical(name.group(0)), extras, marker


def _closure(specs: list[str]) -> set[str]:
    """Installed distributions the runtime requirements pull in, extras followed (other
    environment markers are not evaluated: a conditional dependency counts as pulled in)."""
    seen: set[str] = set()
    todo = [_requirement(s)[:2] for s in specs]
    while todo:
        name, extras = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            dep, dep_extras, marker = _requirement(spec)
            wanted = re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
            if wanted and not set(wanted) & extras:
                continue
            todo.append((dep, dep_extras))
    return seen


def _imported_top_levels() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return {m for m in found if m != "app" and m not in sys.stdlib_module_names}


def test_every_third_party_import_of_app_is_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = _closure(project["dependencies"])
    providers = metadata.packages_distributions()
    missing = {}
    for module in sorted(_imported_top_levels()):
        dists = {_canonical(d) for d in providers.get(module, [])}
        assert dists, f"{module} is imported by app/ but installed by no distribution"
        if not dists & runtime:
            missing[module] = sorted(dists)
    assert not missing, (
        f"imported by app/ but installed only by dev tools: {missing}; add them to "
        "[project.dependencies] in pyproject.toml")
