"""Front matter of a markdown runbook: YAML between `---` lines or TOML between `+++` lines
(Hugo's two formats). Only the fields retrieval uses are read: `title` and the alert names the
runbook answers (`alerts`, or `alert`). Anything else (weight, bookHidden, ...) is ignored.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import Any

import yaml

# libyaml's loader when PyYAML was built with it: ten times faster over thousands of files
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FrontMatterError(ValueError):
    """The front matter is present but cannot be parsed."""


@dataclass(frozen=True)
class FrontMatter:
    title: str | None = None
    alerts: tuple[str, ...] = ()


def split_front_matter(markdown: str) -> tuple[FrontMatter, str]:
    """(front matter, body). A document without front matter is returned as it is, less a
    byte-order mark (an editor's BOM before `# Title` hid the heading: the runbook lost its
    title and alert names, or was skipped as having no heading)."""
    text = markdown.removeprefix("\ufeff")
    first, _, rest = text.partition("\n")
    fence = first.strip()
    if fence not in ("---", "+++"):
        return FrontMatter(), text
    lines = rest.split("\n")
    try:
        end = next(i for i, line in enumerate(lines) if line.strip() == fence)
    except StopIteration:
        raise FrontMatterError(f"front matter opened with {fence!r} is never closed") from None
    raw = "\n".join(lines[:end])
    body = "\n".join(lines[end + 1:])
    try:
        data: Any = yaml.load(raw, Loader=_YAML_LOADER) if fence == "---" else tomllib.loads(raw)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise FrontMatterError(f"front matter does not parse: {exc}") from None
    if data is None:
        return FrontMatter(), body
    if not isinstance(data, dict):
        raise FrontMatterError("front matter is not a mapping")
    return FrontMatter(title=_title(data.get("title")), alerts=_alerts(data)), body


def _title(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _alerts(data: dict[str, Any]) -> tuple[str, ...]:
    value = data.get("alerts", data.get("alert"))
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        if value is not None:
            raise FrontMatterError("`alerts` must be a string or a list of strings")
        return ()
    return tuple(v.strip() for v in value if v.strip())
