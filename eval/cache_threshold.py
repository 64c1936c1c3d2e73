"""`make eval-cache`: which similarity threshold, with and without the guard, lets the semantic
cache answer a reworded question without ever answering a different one.

Ours (eval/questions/paraphrases.yaml over runbooks/): a pair is accepted when both questions
retrieve the same runbooks (the real RunbookIndex and the pipeline's own semantic_bucket),
their cosine is >= t and (with the guard) app.cache.semantic_guard lets them share. Reports the
hit rate (paraphrases accepted) and the false-hit rate (negatives accepted) for t in
0.70..0.98.

Outside data (EXTERNAL_PARAPHRASES=path): a public paraphrase set we did not write, MRPC
(`msr_paraphrase_test.txt`) or PAWS (`id sentence1 sentence2 label` tsv). Similarity and guard
only (its sentences are not about our runbooks). The text is never committed.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from app.cache.exact import normalise_question
from app.cache.semantic_guard import MAX_UNSHARED_CONTENT_WORDS, judge
from app.config import BUNDLED_RUNBOOKS, CachePolicy, LLMPolicy
from app.runbooks.embedder import default_embedder
from app.runbooks.loader import load_corpus
from app.runbooks.search import RunbookIndex
from app.services.reuse import semantic_bucket

PAIRS = Path(__file__).resolve().parent / "questions" / "paraphrases.yaml"
THRESHOLDS = tuple(round(0.70 + 0.02 * i, 2) for i in range(15))  # 0.70 .. 0.98
EXTERNAL_SAMPLE = 2000
DEFAULT_THRESHOLD = CachePolicy().semantic_threshold


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    paraphrase: bool
    kind: str  # "paraphrase" or the negative's kind
    similarity: float
    same_sections: bool
    guard: str  # the guard's reason, "ok" when it lets them share


def load_pairs(path: Path = PAIRS) -> list[dict[str, str]]:
    pairs: list[dict[str, str]] = yaml.safe_load(path.read_text())["pairs"]
    return pairs


def measure(raw: list[dict[str, str]], index: RunbookIndex | None,
            max_unshared: int = MAX_UNSHARED_CONTENT_WORDS) -> list[Pair]:
    """Similarity, retrieval and guard verdict of each pair (index None: similarity only)."""
    texts = [normalise_question(t) for p in raw for t in (p["a"], p["b"])]
    vectors = default_embedder().embed(texts)
    limit = LLMPolicy().context_chunks
    out = []
    for i, p in enumerate(raw):
        same = True
        if index is not None:
            ra, rb = index.search(p["a"], limit=limit), index.search(p["b"], limit=limit)
            # the pipeline's own rule (app/services/reuse.py): the same runbooks retrieved
            same = ra.answerable and semantic_bucket("m", ra) == semantic_bucket("m", rb)
        paraphrase = p["label"] == "paraphrase"
        out.append(Pair(p["a"], p["b"], paraphrase, "paraphrase" if paraphrase else p["kind"],
                        float(np.dot(vectors[2 * i], vectors[2 * i + 1])), same,
                        judge(p["a"], p["b"], max_unshared=max_unshared).reason))
    return out


def accepted(p: Pair, threshold: float, guard: bool) -> bool:
    return p.same_sections and p.similarity >= threshold and (not guard or p.guard == "ok")


def rates(pairs: list[Pair], threshold: float, guard: bool) -> tuple[float, float]:
    """(hit rate over paraphrases, false-hit rate over negatives)."""
    pos = [p for p in pairs if p.paraphrase]
    neg = [p for p in pairs if not p.paraphrase]
    hit = sum(accepted(p, threshold, guard) for p in pos) / max(len(pos), 1)
    false = sum(accepted(p, threshold, guard) for p in neg) / max(len(neg), 1)
    return hit, false


def table(pairs: list[Pair]) -> str:
    pos = sum(p.paraphrase for p in pairs)
    kinds = Counter(p.kind for p in pairs if not p.paraphrase)
    lines = [f"{pos} paraphrases, {len(pairs) - pos} negatives "
             f"({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})",
             "", "| threshold | hit rate | false-hit rate | hit rate, guard | "
             "false-hit rate, guard |", "|---|---|---|---|---|"]
    for t in THRESHOLDS:
        (h, f), (hg, fg) = rates(pairs, t, False), rates(pairs, t, True)
        lines.append(f"| {t:.2f} | {h:.3f} | {f:.3f} | {hg:.3f} | {fg:.3f} |")
    return "\n".join(lines)


def details(pairs: list[Pair]) -> str:
    """What each stage removes: retrieval, the guard by reason, similarity."""
    lines = ["| kind | pairs | same runbooks | guard rejects (by reason) | similarity p50 |",
             "|---|---|---|---|---|"]
    for kind in sorted({p.kind for p in pairs}):
        group = [p for p in pairs if p.kind == kind]
        reasons = Counter(p.guard for p in group if p.guard != "ok")
        lines.append(f"| {kind} | {len(group)} | {sum(p.same_sections for p in group)} | "
                     f"{', '.join(f'{r} {n}' for r, n in sorted(reasons.items())) or '-'} | "
                     f"{float(np.median([p.similarity for p in group])):.3f} |")
    return "\n".join(lines)


def tolerance_sweep(raw: list[dict[str, str]], index: RunbookIndex | None,
                    threshold: float) -> str:
    """The guard's content tolerance (unshared content words allowed per side) at one
    threshold."""
    lines = [f"| unshared content words allowed | hit rate at {threshold:.2f} | "
             f"false-hit rate at {threshold:.2f} |", "|---|---|---|"]
    for tolerance in range(4):
        hit, false = rates(measure(raw, index, tolerance), threshold, True)
        lines.append(f"| {tolerance} | {hit:.3f} | {false:.3f} |")
    return "\n".join(lines)


def load_external(path: Path, sample: int = EXTERNAL_SAMPLE) -> list[dict[str, str]]:
    """MRPC (Quality, #1 ID, #2 ID, #1 String, #2 String) or PAWS (id, sentence1, sentence2,
    label); a seeded random sample."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header, body = rows[0], [r for r in rows[1:] if len(r) >= 4]
    if header[0].lower() == "quality":
        raw = [{"a": r[3], "b": r[4], "label": r[0]} for r in body if len(r) >= 5]
    else:
        raw = [{"a": r[1], "b": r[2], "label": r[3]} for r in body]
    random.Random(13).shuffle(raw)
    return [{"a": r["a"], "b": r["b"], "kind": "external",
             "label": "paraphrase" if r["label"].strip() == "1" else "negative"}
            for r in raw[:sample]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--external", type=Path,
                        default=os.environ.get("EXTERNAL_PARAPHRASES") or None,
                        help="MRPC msr_paraphrase_*.txt or PAWS *.tsv")
    parser.add_argument("--pairs", action="store_true", help="list every pair and its verdict")
    args = parser.parse_args(argv)
    index = RunbookIndex(load_corpus(BUNDLED_RUNBOOKS).runbooks)
    ours = measure(load_pairs(), index)
    print("## ours (eval/questions/paraphrases.yaml, runbooks/)\n")
    print(table(ours) + "\n\n" + details(ours) + "\n\n"
          + tolerance_sweep(load_pairs(), index, DEFAULT_THRESHOLD) + "\n")
    if args.pairs:
        for p in sorted(ours, key=lambda p: (p.kind, -p.similarity)):
            print(f"  {p.kind:10} {p.similarity:.3f} same={p.same_sections!s:5} "
                  f"guard={p.guard:9} {p.a!r} / {p.b!r}")
    if args.external:
        outside = measure(load_external(args.external), None)
        print(f"## outside data ({args.external.name}, similarity and guard only)\n")
        print(table(outside) + "\n\n" + details(outside) + "\n\n"
              + tolerance_sweep(load_external(args.external), None, DEFAULT_THRESHOLD))
    else:
        print("# EXTERNAL_PARAPHRASES not set: skipping the public paraphrase set "
              "(make eval-cache EXTERNAL_PARAPHRASES=/path/to/msr_paraphrase_test.txt)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
