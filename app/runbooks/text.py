"""Tokenising for retrieval: lower-case words, stop words dropped, a light suffix stemmer.

Operators type "pods keep getting OOMKilled"; runbooks say "pod OOMKilled". Folding plurals and
common suffixes lets those meet without a language model.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")

STOP_WORDS = frozenset(
    """a about after again all also am an and any are as at be because been before being both
    but by can could did do does doing done for from get gets getting got had has have having
    he her here how i if in into is it its just keep keeps let me more most my no nor not now
    of off on once only or other our out over own same should so some such than that the their
    them then there these they this those through to too under until up very was we were what
    when where which while who why will with would you your yours please help happening
    happen happened going wrong issue problem""".split()
)


# Cached: a corpus has far fewer distinct words than word occurrences. Bounded small, because
# questions bring words nobody asks twice (pod names, ticket and trace ids): with 65,536 entries
# they filled the cache over a worker's first ~65,000 paid answers, ~10 MiB that stayed
# resident. Hits follow word frequency, so the size hardly matters to speed: tokenizing 132 MB
# of real text (11 million words, 608,000 distinct) took 7.6 s at 4,096 entries, 7.7 s at
# 65,536 and 10.1 s uncached (2026-12-03, bench/results/throughput.md, its notes).
@lru_cache(maxsize=4096)
def stem(word: str) -> str:
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("edly", ""), ("ed", ""),
                         ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            return word[: len(word) - len(suffix)] + keep
    return word


def tokenize(text: str) -> list[str]:
    out: list[str] = []
    for match in _WORD.finditer(text.lower()):
        word = match.group(0)
        parts = [word] if "-" not in word and "." not in word else [word, *re.split(r"[.-]", word)]
        for part in parts:
            # single characters ("1", "a", "x") carry no meaning of their own
            if len(part) > 1 and part not in STOP_WORDS:
                out.append(stem(part))
    return out
