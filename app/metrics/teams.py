"""Per-team money and break-glass (issue 17).

The `team` label takes only the names of the policy's teams (`set_teams`, called on every
policy applied): a team from a key's `team:` prefix that the policy does not define, a key
name, or a team removed by a reload never becomes a label. Counting for such a team is dropped
here (its spend is still in the global series). A configured team's series start at 0; a team
removed by a reload loses all its series at once, so no stale series linger until a restart.
`scope` (break-glass) is "global" or a configured team. At most MAX_TEAMS (100) teams x 4
windows: bounded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

from app.metric_labels import REJECTION_WINDOWS

GLOBAL_SCOPE_LABEL = "global"


class TeamMetrics:
    def _register_teams(self, r: CollectorRegistry) -> None:
        self.team_spend = Counter(
            "ai_team_spend_usd", "Spend settled in the ledger for paid calls of a team's "
            "callers, counted by the process that settled it (sum over replicas).",
            ["team"], registry=r,
        )
        self.team_budget_rejections = Counter(
            "ai_team_budget_rejections", "Paid calls refused by one of the team's own "
            "windows (a refusal by a global window is in ai_budget_rejections_total).",
            ["team", "window"], registry=r,
        )
        # Gauges from the shared ledger and the policy: every replica reports the same value.
        self.team_budget_limit = Gauge(
            "ai_team_budget_limit_usd", "A team's limit per window, break-glass applied; only "
            "the windows the team limits.", ["team", "window"], registry=r,
        )
        self.team_budget_remaining = Gauge(
            "ai_team_budget_remaining_usd", "A team's limit minus spent minus reserved in the "
            "current period of the window.", ["team", "window"], registry=r,
        )
        self.team_budget_resets_at = Gauge(
            "ai_team_budget_resets_at_timestamp_seconds", "When the current period of a "
            "team's window ends (Unix time).", ["team", "window"], registry=r,
        )
        self.break_glass_active = Gauge(
            "ai_break_glass_active", "1 while a break-glass entry raises this scope's limits "
            "(a team, or global), else 0.", ["scope"], registry=r,
        )
        self.break_glass_expiry = Gauge(
            "ai_break_glass_expiry_timestamp_seconds", "When the scope's active break-glass "
            "raise ends (the latest `until` of its active entries; Unix time), 0 when none is "
            "active.", ["scope"], registry=r,
        )
        self._teams: frozenset[str] = frozenset()
        self._team_windows: frozenset[tuple[str, str]] = frozenset()

    def _init_teams(self) -> None:
        self._init_break_glass(GLOBAL_SCOPE_LABEL)

    def _init_break_glass(self, scope: str) -> None:
        self.break_glass_active.labels(scope=scope).set(0)
        self.break_glass_expiry.labels(scope=scope).set(0)

    @property
    def teams(self) -> frozenset[str]:
        return self._teams

    def set_teams(self, teams: Iterable[str]) -> None:
        """The policy's teams are now `teams`: new ones start at 0, removed ones lose every
        series."""
        new = frozenset(teams) - {GLOBAL_SCOPE_LABEL}
        for team in self._teams - new:
            _remove(self.team_spend, team)
            for window in REJECTION_WINDOWS:
                _remove(self.team_budget_rejections, team, window)
            _remove(self.break_glass_active, team)
            _remove(self.break_glass_expiry, team)
        for team in new - self._teams:
            self.team_spend.labels(team=team)
            for window in REJECTION_WINDOWS:
                self.team_budget_rejections.labels(team=team, window=window)
            self._init_break_glass(team)
        for gone in {k for k in self._team_windows if k[0] not in new}:
            self._remove_window(*gone)
        self._team_windows = frozenset(k for k in self._team_windows if k[0] in new)
        self._teams = new

    def count_team_spend(self, team: str, usd: float) -> None:
        if team in self._teams and usd > 0:
            self.team_spend.labels(team=team).inc(usd)

    def count_team_rejection(self, team: str, window: str) -> None:
        if team in self._teams and window in REJECTION_WINDOWS:
            self.team_budget_rejections.labels(team=team, window=window).inc()

    def set_team_limits(self, limits: Mapping[tuple[str, str], tuple[float, float]]) -> None:
        """(team, window) -> (limit USD, resets at epoch seconds), for every window every team
        limits now. The windows not listed (a team or window a reload removed) lose their
        series; unknown teams are skipped."""
        keep = frozenset(k for k in limits if k[0] in self._teams)
        for gone in self._team_windows - keep:
            self._remove_window(*gone)
        for team, window in keep:
            limit, resets_at = limits[(team, window)]
            self.team_budget_limit.labels(team=team, window=window).set(limit)
            self.team_budget_resets_at.labels(team=team, window=window).set(resets_at)
        self._team_windows = keep

    def set_team_remaining(self, team: str, window: str, usd: float) -> None:
        if (team, window) in self._team_windows:
            self.team_budget_remaining.labels(team=team, window=window).set(usd)

    def set_break_glass(self, active_until: Mapping[str, float]) -> None:
        """scope -> epoch seconds its active raise ends; every known scope absent is 0."""
        for scope in (GLOBAL_SCOPE_LABEL, *self._teams):
            until = active_until.get(scope)
            self.break_glass_active.labels(scope=scope).set(0 if until is None else 1)
            self.break_glass_expiry.labels(scope=scope).set(until or 0)

    def _remove_window(self, team: str, window: str) -> None:
        for gauge in (self.team_budget_limit, self.team_budget_remaining,
                      self.team_budget_resets_at):
            _remove(gauge, team, window)


def _remove(metric: Counter | Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)
