"""Client API keys (SRE_AI_API_KEYS / SRE_AI_API_KEYS_FILE): `name=key` pairs, or
`team:name=key` to put the key in a team (its budgets: app/config/teams.py).

Three states, exported as `ai_auth_state{state}` with `ai_api_keys_loaded`:

- `open`: no key source is configured at all (a laptop, a test). Logged loudly at start-up.
- `enforced`: keys are loaded; /ask, /cost and /circuit-breaker need `Bearer <key>`.
- `deny_all`: a key source IS configured but yields no keys (file missing, e.g. a wrong
  `auth.existingSecretKey`; unreadable; empty; no valid `name=key` line). The service FAILS
  CLOSED: protected routes answer 503 `auth_unavailable`, the pod is not ready, an ERROR line
  is logged (again every LOG_EVERY_SECONDS while it lasts). It used to fail open: the routes
  became public without a word.

The file (a mounted Secret) is re-checked at most every `recheck_seconds` when asked. What it
says is final, even "no keys" (removing the last key revokes it). When it cannot be READ (a
mount hiccup), the last good keys stay in effect and the failure is reported (`last_error`,
`ai_config_reloads_total{kind="api_keys",result="error"}`, log). Keys are compared in constant
time and never logged; the key's NAME goes into the request's log line.
"""

from __future__ import annotations

import hmac
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.clock import Clock
from app.config.teams import RESERVED_TEAM_NAMES, TEAM_NAME
from app.metrics import Metrics

log = logging.getLogger("app.auth")

AuthState = Literal["open", "enforced", "deny_all"]
LOG_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class KeyIdentity:
    """Who presented a key: its name, and its team when the entry names one (`team:name=key`).
    A key without a team prefix may still be in a team through the policy's `teams.*.keys`."""

    name: str
    team: str | None = None


@dataclass(frozen=True)
class KeysStatus:
    state: AuthState
    loaded: int
    last_error: str | None  # why the configured source is not (fully) in effect; None when it is


def parse_keys(text: str, *, separator: str) -> dict[str, KeyIdentity]:
    """Return {key: identity}. Malformed entries are skipped with a warning naming the entry
    index (never its text: it holds a key)."""
    keys: dict[str, KeyIdentity] = {}
    for index, raw in enumerate(text.split(separator)):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        label, sep, key = entry.partition("=")
        team, colon, name = label.strip().rpartition(":")
        if not sep or not name.strip() or not key.strip() or (colon and not team.strip()):
            log.warning("ignoring malformed API key entry", extra={"fields": {"entry": index}})
            continue
        team = team.strip()
        if team and (team in RESERVED_TEAM_NAMES or not TEAM_NAME.fullmatch(team)):
            # `global:ci=...` made the caller's team the fleet's own scope: every global window
            # was charged twice per answer (SQLite refused the duplicate hold outright). A team
            # is what the policy may name: lower-case, not reserved.
            log.warning("ignoring API key entry: its team prefix is not a team name",
                        extra={"fields": {"entry": index, "team": team[:64]}})
            continue
        keys[key.strip()] = KeyIdentity(name.strip(), team or None)
    return keys


class ApiKeys:
    def __init__(self, inline: str | None, file: Path | None, clock: Clock, metrics: Metrics,
                 recheck_seconds: float = 1.0) -> None:
        self._configured = inline is not None or file is not None
        self._inline = parse_keys(inline or "", separator=",")
        self._inline_error = ("SRE_AI_API_KEYS has no valid `name=key` entry"
                              if inline is not None and not self._inline else None)
        self._file = file
        self._clock = clock
        self._metrics = metrics
        self._recheck = recheck_seconds
        self._from_file: dict[str, KeyIdentity] = {}
        self._file_sig: tuple[int, int, int, int] | None = None
        self._file_error: str | None = None
        self._content_error: str | None = None  # what the content at _file_sig says
        self._checked_at = float("-inf")
        self._logged_at = float("-inf")
        # Every caller runs on the event loop today; the lock keeps a re-check single-flight
        # should one ever run from a thread (it never waits on the loop: a short file read).
        self._lock = threading.Lock()
        self._refresh()

    def status(self) -> KeysStatus:
        self._maybe_refresh()
        return self._status()

    def identify(self, presented: str) -> KeyIdentity | None:
        """The key's identity, or None. Every configured key is compared (constant time)."""
        self._maybe_refresh()
        found = None
        for key, identity in (self._inline | self._from_file).items():
            if hmac.compare_digest(key.encode(), presented.encode()):
                found = identity
        return found

    def _status(self) -> KeysStatus:
        loaded = len(self._inline | self._from_file)
        state: AuthState = "open" if not self._configured else "enforced" if loaded else "deny_all"
        errors = [e for e in (self._inline_error, self._file_error) if e]
        return KeysStatus(state, loaded, "; ".join(errors) or None)

    def _maybe_refresh(self) -> None:
        if self._file is not None and self._clock.monotonic() - self._checked_at >= self._recheck:
            self._refresh()

    def _refresh(self) -> None:
        with self._lock:  # one re-check at a time: a failure is counted and logged once
            if self._clock.monotonic() - self._checked_at < self._recheck:
                return  # another thread just did it
            self._checked_at = self._clock.monotonic()
            if self._file is not None:
                self._read_file(self._file)
            self._report()

    def _read_file(self, file: Path) -> None:
        try:
            st = file.stat()
            # Size and ctime too: a read caught mid-rewrite (truncate, then write) is a prefix
            # of the final file, and with coarse timestamps the write can finish within the
            # same mtime tick; the finished file must be read again, not the torn one kept.
            sig = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
            if sig == self._file_sig:
                self._set_error(self._content_error)  # readable (again) and unchanged
                return
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            kept = f"keeping the last {len(self._from_file)} keys" if self._from_file else "no keys"
            self._set_error(f"API keys file {file} unreadable ({reason}); {kept}")
            return
        self._file_sig = sig
        self._from_file = parse_keys(text, separator="\n")
        self._content_error = (None if self._from_file
                               else f"API keys file {file} has no valid `name=key` line")
        if self._content_error is None:
            self._metrics.config_reloads.labels(kind="api_keys", result="success").inc()
            # (ai_config_rejected follows in _set_error, on every re-check)
            log.info("API keys file loaded", extra={"fields": {
                "file": str(file), "keys": len(self._from_file)}})
        self._set_error(self._content_error)

    def _set_error(self, error: str | None) -> None:
        if error is not None and error != self._file_error:  # count once, not every re-check
            self._metrics.config_reloads.labels(kind="api_keys", result="error").inc()
            self._logged_at = float("-inf")
        self._file_error = error
        self._metrics.config_reloaded("api_keys", ok=error is None, count=False)

    def _report(self) -> None:
        status = self._status()
        self._metrics.set_auth_state(status.state, status.loaded)
        now = self._clock.monotonic()
        if status.last_error is None or now - self._logged_at < LOG_EVERY_SECONDS:
            return
        self._logged_at = now
        if status.state == "deny_all":
            log.error("client API keys are configured but none is loaded: /ask, /cost and "
                      "/circuit-breaker answer 503 until this is fixed",
                      extra={"fields": {"reason": status.last_error}})
        else:
            log.error("client API key source is failing; the keys in effect are unchanged",
                      extra={"fields": {"reason": status.last_error, "keys": status.loaded}})
