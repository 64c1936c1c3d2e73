"""The environment for servers the tests start (redis-server), on the machine's real clock.

`make test-future` runs the suite under libfaketime, a year ahead, to prove no test rots with
the calendar. libfaketime reaches child processes through LD_PRELOAD and FAKETIME*; Redis does
not start under it, and a real Redis never shares its clock with its clients anyway. Servers
started with this environment keep the real clock, which is exactly the skew the service must
survive.
"""

from __future__ import annotations

import os


def real_clock_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKETIME")}
    preload = [p for p in env.get("LD_PRELOAD", "").split() if "faketime" not in p]
    if preload:
        env["LD_PRELOAD"] = " ".join(preload)
    else:
        env.pop("LD_PRELOAD", None)
    return env
