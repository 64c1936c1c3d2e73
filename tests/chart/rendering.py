"""Render the chart with the real helm binary and look objects up in the result."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "sre-ai-platform"
CI_VALUES = sorted(p.name for p in (CHART / "ci").glob("*.yaml"))
RELEASE = "sre-ai-platform"
NAMESPACE = "sre-ai"
MONITORING_API = "monitoring.coreos.com/v1"
HELM_CACHE = Path("/var/cache/sre-ai-platform/bin/helm")

Obj = dict[str, Any]


def find_helm() -> str | None:
    """$HELM, then helm on PATH, then the cache tools/install-helm.sh fills."""
    for candidate in (os.environ.get("HELM"), shutil.which("helm"), str(HELM_CACHE)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


class RenderError(Exception):
    """helm refused to render; the message is helm's stderr."""


@dataclass(frozen=True)
class Rendered:
    objects: tuple[Obj, ...]

    def __iter__(self) -> Iterator[Obj]:
        return iter(self.objects)

    def kinds(self) -> list[str]:
        return [o["kind"] for o in self.objects]

    def all(self, kind: str) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str | None = None) -> Obj:
        """The one object of `kind` (named `name` when given); fails loudly otherwise."""
        found = [o for o in self.all(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def maybe(self, kind: str, name: str) -> Obj | None:
        found = [o for o in self.all(kind) if o["metadata"]["name"] == name]
        return found[0] if found else None

    def api_deployment(self) -> Obj:
        return self.get("Deployment", RELEASE)

    def api_container(self) -> Obj:
        containers = self.api_deployment()["spec"]["template"]["spec"]["containers"]
        return next(c for c in containers if c["name"] == "api")


def run_helm(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    helm = find_helm()
    assert helm, "helm not installed"
    return subprocess.run(
        [helm, *args], capture_output=True, text=True, timeout=120, check=False, cwd=REPO
    )


def template_args(
    values: Sequence[str] = (),
    sets: Sequence[str] = (),
    api_versions: Sequence[str] = (),
    skip_tests: bool = False,
) -> list[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for v in values:
        args += ["-f", str(CHART / "ci" / v) if "/" not in v else v]
    for s in sets:
        args += ["--set", s]
    for a in api_versions:
        args += ["--api-versions", a]
    if skip_tests:
        args.append("--skip-tests")
    return args


@functools.lru_cache(maxsize=64)
def _render_cached(
    values: tuple[str, ...], sets: tuple[str, ...], api_versions: tuple[str, ...]
) -> Rendered:
    proc = run_helm(template_args(values, sets, api_versions))
    if proc.returncode != 0:
        raise RenderError(proc.stderr.strip())
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return Rendered(tuple(docs))


def render(*values: str, sets: Sequence[str] = (), api_versions: Sequence[str] = ()) -> Rendered:
    """`helm template` with ci/ values files (by name) and --set pairs."""
    return _render_cached(tuple(values), tuple(sets), tuple(api_versions))


def render_error(*values: str, sets: Sequence[str] = ()) -> str:
    """helm's error message for values that must be refused."""
    try:
        render(*values, sets=sets)
    except RenderError as exc:
        return str(exc)
    raise AssertionError(f"helm rendered values {values} {list(sets)} that must be refused")
