"""A firing alert -> the question the ask pipeline answers, and the runbook it should cite.

The runbook preferred is the one `runbook_url` names (its last path segment without `.md` or an
anchor, when that is a runbook id in the index), else the one the alert name is listed in.
Retrieval routes a question that names an alert to that alert's runbook
(app/runbooks/search.py `alert_runbook`, first name found wins), so the question LEADS with an
alert name of the preferred runbook. A runbook that lists no alert cannot be forced; the
question then names its id and retrieval decides.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from app.runbooks.search import RunbookIndex
from app.services.alert_payload import WebhookAlert

# The labels an on-call engineer reads first, in this order; others are left out of the
# question (they vary per series and would defeat the answer caches).
KEY_LABELS = ("severity", "namespace", "service", "job", "pod", "container", "deployment",
              "node", "instance", "cluster")
ASK = "What is the likely cause, and what should I check and do first?"


def runbook_id_from_url(url: str) -> str:
    """`https://x/runbooks/crashloopbackoff.md#fix` -> `crashloopbackoff`; '' if none."""
    path = urlsplit(url.strip()).path.rstrip("/")
    last = path.rpartition("/")[2]
    return last.removesuffix(".md").lower()


def preferred_runbook(alert: WebhookAlert, index: RunbookIndex) -> str | None:
    """The runbook `runbook_url` names: the one whose id, or its last path segment, is the
    URL's last segment, case ignored (ids keep their file's case, `KubeNodeNotReady`, and
    public runbook URLs nest them, `.../kubernetes/kubepodcrashlooping`); else the alert's."""
    from_url = runbook_id_from_url(alert.annotations.get("runbook_url", ""))
    if from_url:
        if from_url in index.runbooks:
            return from_url
        for runbook_id in index.runbooks:
            if runbook_id.rpartition("/")[2].lower() == from_url:
                return runbook_id
    found = index.alert_runbook(alert.labels.alertname)
    return list(index.runbooks)[found] if found is not None else None


def build_question(alert: WebhookAlert, runbook: str | None, index: RunbookIndex,
                   max_chars: int) -> str:
    name = alert.labels.alertname
    labels = alert.label_map()
    lead = ""
    if runbook is not None:
        routed = index.alert_runbook(name)
        own = routed is not None and list(index.runbooks)[routed] == runbook
        alerts = index.runbooks[runbook].alerts
        if not own:
            lead = (f"{alerts[0]} (runbook {runbook}). " if alerts else f"Runbook {runbook}. ")
    where = ", ".join(f"{k}={labels[k]}" for k in KEY_LABELS if labels.get(k))
    parts = [f"{lead}Alert {name} is firing" + (f" ({where})." if where else ".")]
    for key in ("summary", "description"):
        text = " ".join(alert.annotations.get(key, "").split())
        if text:
            parts.append(f"{key.capitalize()}: {text}")
    parts.append(ASK)
    question = " ".join(parts)
    if len(question) <= max_chars:
        return question
    # too long: the annotations are cut, never the alert name or the ask
    head = parts[0]
    room = max_chars - len(head) - len(ASK) - 3
    middle = " ".join(parts[1:-1])[: max(room, 0)].rstrip()
    return " ".join(p for p in (head, middle + "…" if middle else "", ASK) if p)[:max_chars]
