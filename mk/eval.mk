##@ Retrieval quality and cost

# The public prometheus-operator/runbooks corpus (Apache-2.0) is not in this repository: point
# EXTERNAL_CORPUS at its content/runbooks directory to evaluate on it too.
EXTERNAL_CORPUS ?=

.PHONY: eval-retrieval
eval-retrieval: venv ## Recall@1/@4, MRR, no-answer precision/recall: sparse vs dense vs hybrid.
	EXTERNAL_CORPUS="$(EXTERNAL_CORPUS)" $(BIN)/python -m eval.retrieval

.PHONY: bench-retrieval
bench-retrieval: venv ## Index build, /ask latency, re-index, memory at 22..22,000 sections.
	$(BIN)/python -m bench.retrieval

# A public paraphrase set (MRPC msr_paraphrase_test.txt, or a PAWS tsv) is not in this
# repository either: point EXTERNAL_PARAPHRASES at it to measure the guard on data we did not write.
EXTERNAL_PARAPHRASES ?=

.PHONY: eval-cache
eval-cache: venv ## Semantic cache: hit and false-hit rate per similarity threshold, with and without the guard.
	EXTERNAL_PARAPHRASES="$(EXTERNAL_PARAPHRASES)" $(BIN)/python -m eval.cache_threshold

.PHONY: bench-citations
bench-citations: venv ## Input tokens of the cited request vs the plain prompt (bench/results/citations.md).
	$(BIN)/python -m bench.citations_cost --out bench/results/citations.md
