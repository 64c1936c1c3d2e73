"""`make eval-retrieval`: how well each ranker finds the runbook an on-call question needs.

For every question set (ours on runbooks/, and the public prometheus-operator runbooks when
EXTERNAL_CORPUS points at their `content/runbooks` directory) and every ranker (sparse, dense,
hybrid), reports:
- recall@1, recall@4, MRR over the answerable questions, from the runbooks the search cites in
  order (a question the gate refuses counts as a miss), computed by trec_eval
  (`pytrec_eval-terrier`);
- no-answer precision and recall: of the questions refused, how many the corpus really cannot
  answer, and of those, how many were refused.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytrec_eval
import yaml

from app.runbooks.loader import load_corpus
from app.runbooks.search import Mode, RunbookIndex

QUESTIONS = Path(__file__).resolve().parent / "questions"
REPO = Path(__file__).resolve().parent.parent
MODES: tuple[Mode, ...] = ("sparse", "dense", "hybrid")
SEARCH_LIMIT = 1000


@dataclass(frozen=True)
class Question:
    text: str
    expect: str | None


@dataclass(frozen=True)
class Scores:
    recall_at_1: float
    recall_at_4: float
    mrr: float
    no_answer_precision: float
    no_answer_recall: float
    answerable: int
    unanswerable: int
    misses: tuple[tuple[str, str | None, str | None], ...]


def load_questions(path: Path) -> list[Question]:
    data = yaml.safe_load(path.read_text())
    return [Question(q["q"], q["expect"]) for q in data["questions"]]


def score(index: RunbookIndex, questions: list[Question], mode: Mode) -> Scores:
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    refused_right = refused = 0
    misses: list[tuple[str, str | None, str | None]] = []
    for n, q in enumerate(questions):
        sources = index.search(q.text, limit=SEARCH_LIMIT, mode=mode, runner_up=0.0).sources
        if not sources:
            refused += 1
            refused_right += q.expect is None
        first = sources[0] if sources else None
        if first != q.expect:
            misses.append((q.text, q.expect, first))
        if q.expect is None:
            continue
        qid = f"q{n}"
        qrels[qid] = {q.expect: 1}
        # trec_eval orders by score, so give strictly falling scores in cited order
        run[qid] = {doc: 1.0 / (rank + 1) for rank, doc in enumerate(sources)} or {"-": 0.0}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"recall.1", "recall.4", "recip_rank"})
    per_query = evaluator.evaluate(run)

    def mean(measure: str) -> float:
        return sum(m[measure] for m in per_query.values()) / len(per_query)

    unanswerable = sum(q.expect is None for q in questions)
    return Scores(
        recall_at_1=mean("recall_1"), recall_at_4=mean("recall_4"), mrr=mean("recip_rank"),
        no_answer_precision=refused_right / refused if refused else 1.0,
        no_answer_recall=refused_right / unanswerable if unanswerable else 1.0,
        answerable=len(questions) - unanswerable, unanswerable=unanswerable,
        misses=tuple(misses),
    )


def table(name: str, results: dict[str, Scores]) -> str:
    any_scores = next(iter(results.values()))
    lines = [
        f"{name}: {any_scores.answerable} answerable + {any_scores.unanswerable} unanswerable "
        "questions",
        "",
        "| ranker | recall@1 | recall@4 | MRR | no-answer precision | no-answer recall |",
        "|---|---|---|---|---|---|",
    ]
    for mode, s in results.items():
        lines.append(f"| {mode} | {s.recall_at_1:.3f} | {s.recall_at_4:.3f} | {s.mrr:.3f} | "
                     f"{s.no_answer_precision:.3f} | {s.no_answer_recall:.3f} |")
    return "\n".join(lines)


def evaluate_set(corpus_dir: Path, questions: Path) -> dict[str, Scores]:
    started = time.perf_counter()
    corpus = load_corpus(corpus_dir)
    index = RunbookIndex(corpus.runbooks)
    print(f"# {questions.name}: {len(index)} runbooks, {index.chunk_count} sections, "
          f"{len(corpus.skipped)} files skipped, indexed in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    qs = load_questions(questions)
    return {mode: score(index, qs, mode) for mode in MODES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--external", type=Path, default=os.environ.get("EXTERNAL_CORPUS") or None,
                        help="prometheus-operator/runbooks content/runbooks directory")
    parser.add_argument("--misses", action="store_true", help="list the hybrid ranker's misses")
    args = parser.parse_args(argv)
    sets = [("ours (runbooks/)", REPO / "runbooks", QUESTIONS / "ours.yaml")]
    if args.external:
        sets.append(("prometheus-operator/runbooks", args.external,
                     QUESTIONS / "prometheus-operator-runbooks.yaml"))
    else:
        print("# EXTERNAL_CORPUS not set: skipping the public prometheus-operator/runbooks "
              "set (make eval-retrieval EXTERNAL_CORPUS=/path/to/content/runbooks)",
              file=sys.stderr)
    for name, corpus_dir, questions in sets:
        results = evaluate_set(corpus_dir, questions)
        print(table(name, results))
        print()
        if args.misses:
            for mode in MODES:
                for text, expect, got in results[mode].misses:
                    print(f"  {mode} miss: {text!r}: expected {expect}, got {got}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
