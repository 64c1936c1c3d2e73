"""Who is asking: the client key's name, its team and whether it may see every team.

Resolved per request from the key's identity (app/api_keys.py) and the policy in effect, so a
policy edit that moves a key between teams applies to the next request. The team comes from the
key entry's `team:` prefix when it has one, else from the policy's `teams.*.keys`; a key in
neither is in no team (the global windows alone hold it). With no key source configured (open
mode, a laptop), the one anonymous caller is in no team and may see everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.api_keys import KeyIdentity
from app.config import Policy


@dataclass(frozen=True)
class Caller:
    key_name: str | None  # None in open mode
    team: str | None  # None: in no team
    admin: bool  # sees every team in /cost

    @property
    def known_team(self) -> bool:
        return self.team is not None


OPEN_CALLER = Caller(key_name=None, team=None, admin=True)


def resolve_caller(identity: KeyIdentity | None, policy: Policy) -> Caller:
    if identity is None:
        return OPEN_CALLER
    team = identity.team or policy.key_teams.get(identity.name)
    return Caller(identity.name, team, identity.name in policy.admin_keys)
