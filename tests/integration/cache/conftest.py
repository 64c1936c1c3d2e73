"""Fixtures of the cache tier tests: a real redis-server of each test's own."""

from tests.fakes.redis_server import private_redis_server  # noqa: F401 - re-exported fixture
