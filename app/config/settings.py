"""Settings: the process environment (`SRE_AI_*`, `ANTHROPIC_*`), read once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
BUNDLED_RUNBOOKS = Path(__file__).resolve().parent.parent.parent / "runbooks"


class Settings(BaseSettings):
    """Process configuration from the environment. Names are a contract (docs/architecture.md)."""

    model_config = SettingsConfigDict(
        env_prefix="SRE_AI_", extra="ignore", frozen=True, populate_by_name=True,
        allow_inf_nan=False,  # e.g. SRE_AI_RESERVATION_TTL_SECONDS=inf: refused at start-up
    )

    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL")
    )
    policy_file: Path | None = None
    policy_source: Literal["file", "kubernetes"] = "file"
    policy_configmap: str | None = None
    # Where pods record the policy they applied, so a pod started after an invalid edit starts
    # on it instead of exiting (app/config_watch/last_applied.py). Kubernetes source:
    # `namespace/name` of a ConfigMap the chart creates empty; file source: a file on the
    # ledger's volume. Unset: no record, an invalid policy at start-up is fatal.
    policy_applied_configmap: str | None = None
    policy_last_applied_file: Path | None = None
    runbooks_dir: Path = BUNDLED_RUNBOOKS
    # Runbook files larger than this are skipped (logged, counted, shown in /health/ready).
    max_runbook_bytes: int = Field(default=256 * 1024, gt=0)
    # Runbook embeddings by content hash, so a restart does not re-embed an unchanged corpus.
    # Empty: no disk cache.
    embedding_cache_dir: Path | None = Path("./var/embeddings")
    ledger_path: Path = Path("./var/ledger.sqlite3")
    redis_url: str | None = None
    api_keys: SecretStr | None = None
    api_keys_file: Path | None = None
    # /metrics on a port of its own (app/api/metrics_listener.py); the API port's /metrics then
    # answers 404. Unset: /metrics is served on the API port.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # The metrics listener's address (all interfaces: Prometheus scrapes the pod's IP).
    metrics_host: str = "0.0.0.0"
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    # Requests larger than this are refused with 413 before they are parsed.
    max_body_bytes: int = Field(default=16 * 1024, gt=0)
    # The same for POST /alerts: an Alertmanager notification carries a whole group's alerts.
    max_alert_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # The most /ask and POST /alerts requests one worker serves at once; more are answered
    # 503 `overloaded` at once (app/api/load_shedding.py). ~90 KiB each in flight. 0: no limit.
    max_in_flight: int = Field(default=1000, ge=0, le=1_000_000)
    # How long a crashed process may hold a budget reservation before it lapses.
    reservation_ttl_seconds: float = Field(default=120.0, gt=0)
    # A streamed answer silent this long gets a keep-alive comment line, so proxies and load
    # balancers do not cut it for idleness (app/api/event_stream.py).
    stream_keepalive_seconds: float = Field(default=15.0, gt=0, le=300)
    # Python's young-generation GC threshold once the service is ready (app/gc_tuning.py; what
    # is alive then is frozen out of collections). 0: Python's defaults (700), nothing frozen.
    gc_young_threshold: int = Field(default=50_000, ge=0, le=10_000_000)
    # Seconds between checks of watched files (policy, runbooks, API keys).
    watch_interval_seconds: float = Field(default=1.0, gt=0)
    # Where settlements the ledger could not take wait on this pod's disk (app/budget/spool.py).
    # Default: `spool/` next to the SQLite ledger file (the chart's writable ledger volume).
    spool_dir: Path | None = None
    # Seconds between replays of the settle spool into the ledger.
    spool_replay_interval_seconds: float = Field(default=5.0, gt=0)

    # Outbound delivery of alert answers (app/alerts/delivery.py): a Slack-compatible webhook.
    # The URL is a secret (Slack puts the token in its path): inline, or a file from a mounted
    # Secret; never logged. The token file (optional) is sent as `Authorization: Bearer` and
    # re-read on every attempt, so a rotated Secret takes effect without a restart.
    alert_webhook_url: SecretStr | None = None
    alert_webhook_url_file: Path | None = None
    alert_webhook_token_file: Path | None = None
    # Per attempt (connect + send + response).
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    # Attempts per answer, the first included; then it is dead-lettered (counted, logged).
    alert_webhook_max_attempts: int = Field(default=5, ge=1, le=20)
    # Answers waiting for delivery; a full queue dead-letters the newest.
    alert_webhook_queue_size: int = Field(default=1000, ge=1, le=100_000)

    @property
    def settle_spool_dir(self) -> Path:
        return self.spool_dir or self.ledger_path.parent / "spool"

    @field_validator("embedding_cache_dir", mode="before")
    @classmethod
    def _empty_means_no_cache(cls, value: object) -> object:
        """`SRE_AI_EMBEDDING_CACHE_DIR=` (empty) is no disk cache, as documented; read as a
        path it was `.`, the working directory (read-only in the image: a warning and a
        re-embed at every start)."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        level = "WARNING" if level == "WARN" else level
        if level not in LOG_LEVELS:
            raise ValueError(f"not a log level: use one of {', '.join(LOG_LEVELS)}")
        return level

    @model_validator(mode="after")
    def _check_alert_webhook(self) -> Settings:
        if self.alert_webhook_url is not None and self.alert_webhook_url_file is not None:
            raise ValueError(
                "set one of SRE_AI_ALERT_WEBHOOK_URL and SRE_AI_ALERT_WEBHOOK_URL_FILE, not both"
            )
        return self

    @model_validator(mode="after")
    def _check_kubernetes_source(self) -> Settings:
        if self.policy_source == "kubernetes":
            ref = self.policy_configmap or ""
            if ref.count("/") != 1 or not all(ref.split("/")):
                raise ValueError(
                    "SRE_AI_POLICY_CONFIGMAP must be 'namespace/name' when "
                    "SRE_AI_POLICY_SOURCE=kubernetes"
                )
        applied = self.policy_applied_configmap
        if applied is not None and (applied.count("/") != 1 or not all(applied.split("/"))):
            raise ValueError("SRE_AI_POLICY_APPLIED_CONFIGMAP must be 'namespace/name'")
        return self


# ---------------------------------------------------------------- the policy document


