"""The environment as a contract: Settings built with errors that name the variable and the fix,
and `SRE_AI_*` variables no setting reads (a typo is otherwise silently ignored)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping

from pydantic import SecretStr, ValidationError

from app.config.settings import Settings
from app.errors import ConfigurationError

PREFIX = "SRE_AI_"
LOG_FORMATS = ("json", "console")
_VARIABLE = re.compile(r"\b(?:SRE_AI_[A-Z0-9_]+|ANTHROPIC_[A-Z_]+)\b")
_MAX_INPUT_CHARS = 80


def variable_for(field: str) -> str:
    """The environment variable a Settings field (or alias) is read from."""
    info = Settings.model_fields.get(field)
    if info is not None and info.validation_alias is not None:
        choices = getattr(info.validation_alias, "choices", [info.validation_alias])
        return str(choices[0])
    return field if field.isupper() else PREFIX + field.upper()


def known_variables() -> frozenset[str]:
    return frozenset(variable_for(name) for name in Settings.model_fields)


def load_settings() -> Settings:
    """Settings from the process environment. Raises ConfigurationError naming every bad
    variable (in one message), what was wrong and what would fix it; never echoes a secret."""
    try:
        return Settings()
    except ValidationError as exc:
        raise _configuration_error(exc) from None


def _configuration_error(exc: ValidationError) -> ConfigurationError:
    names: list[str] = []
    problems: list[str] = []
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["loc"]:
            field = str(err["loc"][0])
            name = variable_for(field)
            info = Settings.model_fields.get(field)
            secret = info is not None and info.annotation is not None and (
                SecretStr in getattr(info.annotation, "__args__", (info.annotation,)))
            given = "" if secret else f"={str(err.get('input'))[:_MAX_INPUT_CHARS]!r}"
            problems.append(f"{name}{given}: {msg}")
        else:  # a check across variables: its message names them
            name = ", ".join(dict.fromkeys(_VARIABLE.findall(msg))) or "environment"
            problems.append(msg)
        names.append(name)
    setting = ", ".join(dict.fromkeys(names))
    return ConfigurationError(
        "invalid environment: " + "; ".join(problems), setting=setting,
        fix=f"correct or unset {setting} (every variable and its default: README "
            "\"Configuration\")")


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """`SRE_AI_*` variables that no setting reads, each with the closest known name (or None)."""
    env = os.environ if environ is None else environ
    known = sorted(known_variables())
    found = []
    for name in sorted(env):
        if name.startswith(PREFIX) and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
            found.append((name, close[0] if close else None))
    return found


def describe_unknown(name: str, suggestion: str | None) -> str:
    hint = f": did you mean {suggestion}?" if suggestion else ": no such setting"
    return f"{name} is set but not read by sre-ai-platform{hint} (it is ignored)"


def fallback_log_format(environ: Mapping[str, str] | None = None) -> str:
    """The log format to report a configuration error in when Settings could not be built:
    SRE_AI_LOG_FORMAT if it is itself valid, else JSON (what log collectors expect)."""
    env = os.environ if environ is None else environ
    value = env.get(PREFIX + "LOG_FORMAT", "json").strip().lower()
    return value if value in LOG_FORMATS else "json"
