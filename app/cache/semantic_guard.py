"""May two questions share an answer? The semantic cache's check beyond similarity.

A static embedding averages word vectors, so "enable the breaker" and "disable the breaker",
"scale the checkout deployment" and "scale the payments deployment", "pods restart" and "pods do
not restart" score 0.9 and more. Similarity finds candidates; this guard vetoes them, in order:

- `negation`: one question is negated (not, no, never, without, -n't) and the other is not;
- `opposite`: the questions differ by the two sides of an explicit pair (enable/disable,
  increase/decrease, scale up/down, before/after, start/stop, add/remove, allow/deny, ...);
- `entity`: a token that looks like a name (numbers, versions, IPs, identifiers with - _ . /,
  CamelCase alert names, quoted strings, the word naming a pod/service/namespace...) is in one
  question and not in the other;
- `content`: one object of a small class swapped for another (memory/cpu, logs/metrics,
  postgres/redis, requests/limits...), or more than `max_unshared` content words of one
  question missing from the other.

Pure functions of the two texts, no model: a miss costs one paid call, a wrong hit serves an
answer to another question, so every doubt is a rejection. Vocabulary and tolerance were set on
eval/questions/paraphrases.yaml (docs/semantic-cache.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Literal

from app.cache.comparisons import spelled_out
from app.runbooks.text import stem as _light_stem


def stem(word: str) -> str:
    """The retrieval stemmer, plus a final e dropped: enable/enabled, scale/scaling meet."""
    s = _light_stem(word)
    return s[:-1] if len(s) > 4 and s.endswith("e") else s


GuardReason = Literal["ok", "negation", "opposite", "entity", "content"]
GUARD_REASONS: tuple[GuardReason, ...] = ("ok", "negation", "opposite", "entity", "content")
MAX_UNSHARED_CONTENT_WORDS = 1

_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'|`([^`]+)`")
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['._/:-][A-Za-z0-9]+)*%?")
_NEGATIONS = frozenset("not no never without none nothing neither nor cannot nobody".split())
# Contractions as people type them in a hurry, without the apostrophe: "hpa isnt scaling" is as
# negated as "hpa isn't scaling" (a plain word here, they passed as one unshared content word)
_BARE_CONTRACTIONS = frozenset(
    "isnt arent wasnt werent dont doesnt didnt cant couldnt wont wouldnt shouldnt hasnt havent "
    "hadnt mustnt neednt aint".split())
# Each pair: words of one side, words of the other (stems compared, see _stems).
_OPPOSITES: tuple[tuple[frozenset[str], frozenset[str]], ...] = tuple(
    (frozenset(stem(w) for w in a.split()), frozenset(stem(w) for w in b.split()))
    for a, b in (
        ("enable enabled enabling on", "disable disabled disabling off"),
        ("increase increased raise raised bump higher more grow expand extend",
         "decrease decreased lower lowered reduce reduced less fewer shrink cut"),
        ("up", "down"),
        ("scale_out", "scale_in"),
        ("before", "after"),
        ("start started restart", "stop stopped halt"),
        ("add added create created install", "remove removed delete deleted uninstall drop"),
        ("allow allowed permit accept whitelist", "deny denied block blocked reject forbid"),
        ("upgrade upgraded", "downgrade downgraded rollback"),
        ("min minimum lowest", "max maximum highest"),
        ("high", "low"),
        ("above over exceed exceeded", "below under"),
        ("fast faster", "slow slower"),
        ("open opened", "close closed"),
        ("lock locked", "unlock unlocked"),
        ("attach attached mount", "detach detached unmount"),
        ("include included", "exclude excluded"),
        ("read", "write"),
        ("internal", "external"),
        ("ingress inbound incoming", "egress outbound outgoing"),
        ("primary master leader", "replica secondary follower"),
        ("first", "last"),
        ("succeed succeeded success", "fail failed failure"),
        ("hourly", "daily monthly"),
        ("daily", "monthly"),
        ("soft", "hard"),
        ("request", "limit"),
    )
)
# Members of one class are different objects: one swapped for another is another question
# ("memory limit" / "cpu limit"). Words inside one member are synonyms.
_CLASSES: tuple[tuple[frozenset[str], ...], ...] = tuple(
    tuple(frozenset(stem(w) for w in member.split()) for member in members.split(","))
    for members in (
        "memory ram mem oom, cpu cores throttling, disk storage volume inode, network bandwidth,"
        " gpu",
        "logs log, metrics metric, traces trace, events event",
        "postgres postgresql, mysql mariadb, redis, mongo mongodb, kafka, etcd, elasticsearch",
        "sonnet, haiku, opus",
        "ingress, egress",
        "request requests, limit limits",
        "readiness, liveness, startup",
    )
)
# Words after which / before which the neighbouring word names an object of the cluster.
_KINDS = frozenset(stem(w) for w in """pod service svc deployment deploy namespace ns container
    node statefulset daemonset job cronjob app cluster replica database db queue topic bucket
    host model key""".split())
_NAMESPACE = frozenset(("namespace", "ns"))
_NOT_NAMES = frozenset("""the a an my our your their this that these those one every all some
    each any same other its new old whole which what k8s kubernetes""".split())
# Words that carry no question of their own: their presence on one side is not a difference.
_FILLER = frozenset(stem(w) for w in """a about again all also am an and any are as at be been
    being but by can could did do does doing done for from get gets getting got had has have
    having how i if is it its just keep keeps let me my now of only or our should so some such
    than that the their them then there these they this those to too very was we were what when
    where which while who why will with would you your please help happening happen happened
    going wrong issue problem right still anyone someone know tell see look looks seem seems
    way thing things ok okay hey guys folks currently again actually really quick question
    should must need needs anybody exactly in on at into onto of off""".split())


@dataclass(frozen=True)
class Verdict:
    reason: GuardReason
    detail: str = ""  # the words that decided it: for logs and the evaluation, never a label

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


@dataclass(frozen=True)
class _Parsed:
    words: tuple[str, ...]  # lower-case tokens in order
    stems: frozenset[str]
    negated: bool
    names: frozenset[str]
    word_set: frozenset[str]  # words, for membership
    text: str  # words joined by spaces, for quoted names of several words


# judge() runs for up to MAX_GUARD_CHECKS candidates of one lookup, so the same texts come back:
# the new question once per candidate, a stored one on every lookup that lands near it. The
# parse is a pure function of the text (and _Parsed is immutable): parse each text once. Under a
# storm of near-identical paid questions it was 16 parses per request, the guard's largest self
# time (bench/results/throughput.md, profile). 1,024 questions are a few MB at most.
@lru_cache(maxsize=1024)
def _parse(text: str) -> _Parsed:
    quoted = {next(g for g in m.groups() if g).lower().strip() for m in _QUOTED.finditer(text)}
    raw = _TOKEN.findall(spelled_out(text).replace("\u2019", "'"))
    words = tuple(w.lower() for w in raw)
    negated = any(w in _NEGATIONS or _contracted(w) for w in words)
    # "scale in" / "scale out" are opposites; a bare "in" or "out" is not
    terms = ["not" if _contracted(w) else w.removesuffix("'s") for w in words]
    terms += [f"scale_{w}" for p, w in pairwise(terms)
              if stem(p) == "scal" and w in ("in", "out")]
    names = set(quoted)
    for i, (w, low) in enumerate(zip(raw, words, strict=True)):
        if _looks_like_name(w):
            names.add(low.rstrip("%"))
        elif stem(low) in _KINDS:  # "checkout pod", "namespace payments"
            for j in (i - 1, i + 1) if low in _NAMESPACE else (i - 1,):
                if 0 <= j < len(words) and _plain_neighbour(words[j]):
                    names.add(words[j])
    stems = frozenset(stem(t) for t in terms)
    return _Parsed(words, stems, negated, frozenset(names), frozenset(words), " ".join(words))


def _contracted(word: str) -> bool:
    """A negated contraction, with or without its apostrophe."""
    return word.endswith("n't") or word in _BARE_CONTRACTIONS


def _looks_like_name(word: str) -> bool:
    """Digits (137, p99, v1.2, 10.0.3.17, 5xx), separators inside (checkout-api, kube-system,
    max_connections, payments.svc) or capitals inside a word (OOMKilled, KubePodCrashLooping)."""
    if any(c.isdigit() for c in word) or any(c in "._/:-" for c in word.strip("._/:-")):
        return True
    return any(c.isupper() for c in word[1:]) and not word.isupper()


def _plain_neighbour(word: str) -> bool:
    """A word next to "pod", "service", "namespace"... that could be its name ("checkout
    pod"), not a determiner, a verb form, a filler, a kind or a word the other checks own."""
    s = stem(word)
    return (word not in _NOT_NAMES and not word.endswith(("ing", "ed")) and s not in _FILLER
            and s not in _KINDS and word not in _NEGATIONS
            and not any(s in a | b for a, b in _OPPOSITES))


# stem -> the indices of the _OPPOSITES pairs it is a side of: a pair can only flip two questions
# when each question has a word of it that the other lacks, so only those pairs are checked (in
# their order, so the first flipped pair decides as before) instead of all of them, per
# candidate, on every paid question's lookup (issue 14).
def _pairs_by_stem() -> dict[str, tuple[int, ...]]:
    pairs: dict[str, tuple[int, ...]] = {}
    for i, (left, right) in enumerate(_OPPOSITES):
        for s in left | right:
            pairs[s] = (*pairs.get(s, ()), i)
    return pairs


_PAIRS_OF = _pairs_by_stem()


def _opposite(a: frozenset[str], b: frozenset[str]) -> str | None:
    only_a, only_b = a - b, b - a
    in_a = {i for s in only_a for i in _PAIRS_OF.get(s, ())}
    in_b = {i for s in only_b for i in _PAIRS_OF.get(s, ())} if in_a else set()
    for i in sorted(in_a & in_b):
        left, right = _OPPOSITES[i]
        if (only_a & left and only_b & right) or (only_a & right and only_b & left):
            return "/".join(sorted((only_a | only_b) & (left | right)))
    return None


def _classes_by_stem() -> dict[str, frozenset[int]]:
    classes: dict[str, frozenset[int]] = {}
    for i, members in enumerate(_CLASSES):
        for s in frozenset().union(*members):
            classes[s] = classes.get(s, frozenset()) | {i}
    return classes


_CLASSES_OF = _classes_by_stem()  # likewise: only the classes with a word of each side


def _swapped(only_a: frozenset[str], only_b: frozenset[str]) -> str | None:
    classes_a = {i for s in only_a for i in _CLASSES_OF.get(s, ())}
    classes_b = {i for s in only_b for i in _CLASSES_OF.get(s, ())} if classes_a else set()
    for i in sorted(classes_a & classes_b):
        members = _CLASSES[i]
        in_a = [m for m in members if m & only_a]
        in_b = [m for m in members if m & only_b]
        if in_a and in_b and set(map(id, in_a)) != set(map(id, in_b)):
            return "/".join(sorted((only_a | only_b) & frozenset().union(*in_a, *in_b)))
    return None


def _names_in(names: frozenset[str], other: _Parsed) -> set[str]:
    """Names of one question the other does not contain (as a token or as quoted text)."""
    return {n for n in names if n not in other.word_set and n not in other.names
            and not (" " in n and n in other.text)}


def judge(first: str, second: str, *,
          max_unshared: int = MAX_UNSHARED_CONTENT_WORDS) -> Verdict:
    """Whether `second` may be answered with `first`'s answer, similarity aside. Symmetric."""
    a, b = _parse(first), _parse(second)
    if a.negated != b.negated:
        return Verdict("negation", "negated: " + ("first" if a.negated else "second"))
    flipped = _opposite(a.stems, b.stems)
    if flipped is not None:
        return Verdict("opposite", flipped)
    missing = _names_in(a.names, b) | _names_in(b.names, a)
    if missing:
        return Verdict("entity", " ".join(sorted(missing)))
    content_a, content_b = a.stems - _FILLER, b.stems - _FILLER
    only_a, only_b = content_a - content_b, content_b - content_a
    swapped = _swapped(only_a, only_b)
    if swapped is not None:
        return Verdict("content", swapped)
    if max(len(only_a), len(only_b)) > max_unshared:
        return Verdict("content", " ".join(sorted(only_a | only_b)))
    return Verdict("ok")
