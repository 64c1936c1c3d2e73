"""Whether an OpenTelemetry SDK is installed: only an SDK makes a span or a metric record.

FastAPI brings the OpenTelemetry API as a dependency, not an SDK, and the image installs none.
With the API alone every tracer is a no-op, yet the instrumentation built into FastAPI and into
the anthropic SDK still does its work on every request: FastAPI asks for a provider (6 us a
request), the anthropic client builds each call's span attributes (about 65 us a call, 8 % of
the SDK's CPU per call; issue 14's profile). Where no SDK is installed both are switched off
(app/main.py, app/llm/anthropic.py): nothing was recorded, so nothing is lost. Where one is,
both keep their defaults, so an operator who installs an SDK sees what the libraries show.
"""

from __future__ import annotations

import importlib.util


def sdk_installed() -> bool:
    return importlib.util.find_spec("opentelemetry.sdk") is not None
