"""Client API keys (SRE_AI_API_KEYS / SRE_AI_API_KEYS_FILE): `name=key` pairs.

When any key is configured, /ask, /cost and /circuit-breaker need `Authorization: Bearer <key>`.
The file (a mounted Secret) is re-read when it changes. Keys are compared in constant time and
never logged; the key's NAME goes into the request's log line.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path

from app.clock import Clock

log = logging.getLogger("app.auth")


def parse_keys(text: str, *, separator: str) -> dict[str, str]:
    """Return {key: name}. Malformed entries are skipped with a warning naming the entry index."""
    keys: dict[str, str] = {}
    for index, raw in enumerate(text.split(separator)):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        name, sep, key = entry.partition("=")
        if not sep or not name.strip() or not key.strip():
            log.warning("ignoring malformed API key entry", extra={"fields": {"entry": index}})
            continue
        keys[key.strip()] = name.strip()
    return keys


class ApiKeys:
    def __init__(self, inline: str | None, file: Path | None, clock: Clock,
                 recheck_seconds: float = 1.0) -> None:
        self._inline = parse_keys(inline or "", separator=",")
        self._file = file
        self._clock = clock
        self._recheck = recheck_seconds
        self._from_file: dict[str, str] = {}
        self._file_sig: tuple[int, int] | None = None
        self._checked_at = float("-inf")
        self._refresh()

    @property
    def enabled(self) -> bool:
        self._maybe_refresh()
        return bool(self._inline or self._from_file)

    def identify(self, presented: str) -> str | None:
        """The key's name, or None. Every configured key is compared (constant time)."""
        self._maybe_refresh()
        found = None
        for key, name in (self._inline | self._from_file).items():
            if hmac.compare_digest(key.encode(), presented.encode()):
                found = name
        return found

    def _maybe_refresh(self) -> None:
        if self._file is not None and self._clock.monotonic() - self._checked_at >= self._recheck:
            self._refresh()

    def _refresh(self) -> None:
        self._checked_at = self._clock.monotonic()
        if self._file is None:
            return
        try:
            st = self._file.stat()
            sig = (st.st_mtime_ns, st.st_ino)
            if sig == self._file_sig:
                return
            self._from_file = parse_keys(self._file.read_text(encoding="utf-8"), separator="\n")
            self._file_sig = sig
        except OSError as exc:
            log.warning("API keys file unreadable; keeping the last keys",
                        extra={"fields": {"file": str(self._file), "error": str(exc)}})
