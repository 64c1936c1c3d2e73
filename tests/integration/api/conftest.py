"""The app in-process with client keys, a ManualClock and the real fake Anthropic API: the
rate limit tests' harness (tests/integration/ratelimit/conftest.py), shared."""

from tests.integration.ratelimit.conftest import service  # noqa: F401 - re-exported fixture
