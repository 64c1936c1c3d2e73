"""The import layering of app/, read from the source with `ast` (every import, including the
ones under TYPE_CHECKING and inside functions: a type dependency is still a dependency).

Tiers, lowest first. A unit may import its own tier and the tiers below, never above, and the
units' import graph has no cycle (so two units of one tier cannot import each other):

  roots       main (create_app, the lifespan) and cli: the composition roots, may know all
  api         HTTP: routes, dependencies, middleware, error mapping
  runtime     the object graph of one process, which the api reaches through app.state
  services    answering a question, the paid call
  components  llm, runbooks, budget, resilience, cache, policy_source, config_watch, api_keys,
              callers (who is asking: key, team, admin), ratelimit
  foundation  config, errors, clock, metrics, logs, schemas, heap_trim, gc_tuning,
              opentelemetry_sdk

Inside components some arrows are real and allowed (cache -> llm -> runbooks, budget -> llm,
config_watch -> policy_source); the cycle check keeps them one-way. A new top-level module or
package must be placed in a tier here: the test fails until it is.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"

TIERS: list[tuple[str, frozenset[str]]] = [
    # heap_trim: hands freed heap pages back to the kernel (after an index build); gc_tuning:
    # sets the garbage collector for serving once ready; opentelemetry_sdk: whether spans can
    # record at all. None imports app modules.
    ("foundation", frozenset({"config", "errors", "clock", "metrics", "metric_labels", "logs",
                               "schemas", "heap_trim", "gc_tuning", "opentelemetry_sdk"})),
    ("components", frozenset({"llm", "runbooks", "budget", "resilience", "cache",
                              "policy_source", "config_watch", "api_keys", "callers",
                              "ratelimit"})),
    # alerts: the Alertmanager receiver and its outbound delivery (issue 15).
    ("services", frozenset({"services", "alerts"})),
    # preflight: the start-up checks and `sre-ai-platform check` (issue 19).
    ("runtime", frozenset({"runtime", "preflight"})),
    ("api", frozenset({"api"})),
    ("roots", frozenset({"main", "cli"})),
]
RANK = {unit: rank for rank, (_, units) in enumerate(TIERS) for unit in units}
TIER_NAME = {unit: name for name, units in TIERS for unit in units}


def _unit(module: str) -> str | None:
    """`app.config_watch.build` -> `config_watch`; None outside app."""
    parts = module.split(".")
    return parts[1] if parts[0] == "app" and len(parts) > 1 else None


def _module_name(path: Path) -> str:
    rel = path.relative_to(APP.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> set[str]:
    """Every app module this file imports (absolute or relative, anywhere in the file)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "app":  # `from app import metrics`
                found.update(f"app.{alias.name}" for alias in node.names)
            else:
                found.add(base)
    return {m for m in found if m == "app" or m.startswith("app.")}


def unit_edges() -> dict[tuple[str, str], list[str]]:
    """(importer unit, imported unit) -> the files where it happens."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(APP.rglob("*.py")):
        src = _unit(_module_name(path))
        if src is None:
            continue  # app/__init__.py
        for target in _imported(path):
            dst = _unit(target)
            if dst is not None and dst != src:
                edges.setdefault((src, dst), []).append(str(path.relative_to(APP.parent)))
    return edges


def violations(edges: dict[tuple[str, str], list[str]]) -> list[str]:
    problems = []
    for (src, dst), files in sorted(edges.items()):
        for unit in (src, dst):
            if unit not in RANK:
                problems.append(f"app.{unit} is in no tier: add it to TIERS in {__file__}")
        if src in RANK and dst in RANK and RANK[dst] > RANK[src]:
            problems.append(f"{TIER_NAME[src]} app.{src} imports {TIER_NAME[dst]} app.{dst} "
                            f"(upwards) in {', '.join(files)}")
    problems.extend(f"import cycle: {' -> '.join(cycle)}" for cycle in _cycles(set(edges)))
    return sorted(set(problems))


def _cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    graph: dict[str, set[str]] = {}
    for src, dst in edges:
        graph.setdefault(src, set()).add(dst)
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            found.append([*stack[stack.index(node):], node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*stack, node])
        done.add(node)

    for start in sorted(graph):
        visit(start, [])
    return found


def test_app_imports_follow_the_layering() -> None:
    edges = unit_edges()
    assert edges, "no imports found: is APP right?"
    assert violations(edges) == []


def test_every_top_level_module_is_placed_in_a_tier() -> None:
    units = {u for p in APP.rglob("*.py") if (u := _unit(_module_name(p))) is not None}
    assert units <= set(RANK), sorted(units - set(RANK))


def test_the_check_catches_an_upward_import_and_a_cycle() -> None:
    assert violations({("runtime", "api"): ["app/runtime.py"]}) == [
        "runtime app.runtime imports api app.api (upwards) in app/runtime.py"]
    cycle = violations({("policy_source", "config_watch"): ["a"],
                        ("config_watch", "policy_source"): ["b"]})
    assert cycle == ["import cycle: config_watch -> policy_source -> config_watch"]
    assert violations({("gadgets", "config"): ["app/gadgets.py"]}) == [
        f"app.gadgets is in no tier: add it to TIERS in {__file__}"]
