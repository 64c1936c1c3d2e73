from tests.integration.resilience.conftest import in_process  # noqa: F401 - re-exported fixture
