"""The helm arguments the e2e tests use to change the pod template, so an upgrade replaces
every API pod and nothing else changes."""

from __future__ import annotations

import uuid


def pod_template_change(token: str | None = None) -> list[str]:
    """A fresh `rollout` pod annotation.

    `--set-string`, never `--set`: helm types an all-digit `--set` value as a number, and the
    chart's schema wants annotations to be strings. Eight hex digits are all decimal digits
    2.3 % of the time ((10/16)^8), which once failed CI's upgrade (`got number, want string`)."""
    return ["--set-string", f"podAnnotations.rollout={token or uuid.uuid4().hex[:8]}"]
