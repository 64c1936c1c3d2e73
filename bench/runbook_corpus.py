"""A deterministic synthetic runbook corpus for the retrieval bench: N runbooks nested by
component, Hugo-style front matter with an alert name, five sections on average, sentences
built from SRE vocabulary plus per-runbook service and metric names (so the vocabulary grows
with the corpus the way a real team's does). Same seed, same files, same bytes.

    .venv/bin/python -m bench.runbook_corpus OUT_DIR --runbooks 2000
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

COMPONENTS = ["kubernetes", "node", "etcd", "network", "storage", "database", "cache",
              "queue", "ingress", "auth", "payments", "search", "billing", "observability"]
SYMPTOMS = ["Down", "LatencyHigh", "ErrorsHigh", "Saturated", "FillingUp", "Flapping",
            "CertificateExpiring", "ReplicasMismatch", "RestartsHigh", "LagHigh",
            "ConnectionsExhausted", "MemoryPressure", "ThrottlingHigh", "ConfigReloadFailed"]
SECTIONS = ["Meaning", "Impact", "Diagnosis", "Mitigation", "Prevention", "Escalation"]
WORDS = """pod node container deployment replica service endpoint ingress certificate disk
volume memory cpu latency error timeout restart crash eviction quota limit request response
queue consumer producer lag partition leader follower shard index query connection pool
thread heap garbage collector kernel network packet dns resolver upstream downstream retry
backoff circuit breaker cache hit miss ttl eviction config reload rollout rollback canary
alert threshold dashboard metric log trace span scrape target exporter sidecar proxy mesh
gateway load balancer health probe liveness readiness scheduler taint toleration affinity
namespace secret token rotation expiry renewal storage class snapshot backup restore
migration schema lock deadlock transaction replica lag failover primary standby""".split()
VERBS = ["check", "inspect", "compare", "restart", "scale", "drain", "cordon", "roll back",
         "increase", "decrease", "rotate", "renew", "describe", "tail", "page", "escalate"]


def sentence(rng: random.Random, names: list[str]) -> str:
    words = rng.sample(WORDS, 6) + rng.sample(names, 2)
    rng.shuffle(words)
    verb = rng.choice(VERBS)
    return f"{verb.capitalize()} the {' '.join(words[:4])} and the {' '.join(words[4:])}."


def runbook(i: int, rng: random.Random) -> tuple[str, str]:
    component = COMPONENTS[i % len(COMPONENTS)]
    symptom = SYMPTOMS[(i // len(COMPONENTS)) % len(SYMPTOMS)]
    service = f"svc{i:05d}"
    alert = f"{component.capitalize()}{symptom}{i:05d}"
    names = [service, f"{service}_requests_total", f"{component}-{i % 97}", f"team{i % 41}"]
    parts = [f"---\ntitle: {component} {symptom} on {service}\nalerts: [{alert}]\nweight: 20\n"
             f"---\n", f"# {alert}\n"]
    for section in SECTIONS[: 4 + i % 3]:  # 4, 5 or 6 sections: 5 on average
        body = " ".join(sentence(rng, names) for _ in range(rng.randint(3, 8)))
        parts.append(f"\n## {section}\n\n{body}\n")
        if section == "Diagnosis":
            parts.append(f"\n```bash\nkubectl -n {component} describe pod -l app={service}\n```\n")
    return f"{component}/{service}.md", "".join(parts)


def generate(out: Path, runbooks: int, seed: int = 7) -> int:
    """Writes the corpus; returns the number of sections."""
    rng = random.Random(seed)
    sections = 0
    for i in range(runbooks):
        rel, text = runbook(i, rng)
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        sections += 4 + i % 3
    return sections


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--runbooks", type=int, default=2000)
    args = parser.parse_args()
    print(generate(args.out, args.runbooks), "sections")


if __name__ == "__main__":
    main()
