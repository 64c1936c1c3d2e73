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

.PHONY: bench-runbook-watch
bench-runbook-watch: venv ## What polling the runbooks directory costs at 44..4,400 runbooks (bench/results/runbook-watch.md).
	$(BIN)/python -m bench.runbook_watch

# A public paraphrase set (MRPC msr_paraphrase_test.txt, or a PAWS tsv) is not in this
# repository either: point EXTERNAL_PARAPHRASES at it to measure the guard on data we did not write.
EXTERNAL_PARAPHRASES ?=

.PHONY: eval-cache
eval-cache: venv ## Semantic cache: hit and false-hit rate per similarity threshold, with and without the guard.
	EXTERNAL_PARAPHRASES="$(EXTERNAL_PARAPHRASES)" $(BIN)/python -m eval.cache_threshold

.PHONY: bench-citations
bench-citations: venv ## Input tokens of the cited request vs the plain prompt (bench/results/citations.md).
	$(BIN)/python -m bench.citations_cost --out bench/results/citations.md

##@ Throughput and cost to run

# LiteLLM's proxy, for comparison only: in a venv of its own (never in ours), at the version
# bench/results/throughput.md records. LITELLM_VERSION= installs the newest.
LITELLM_VENV ?= /var/cache/sre-ai-platform/venvs/litellm
LITELLM_VERSION ?= 1.108.7
BENCH_ARGS ?=

.PHONY: bench-deps
bench-deps: venv ## wrk (apt) and py-spy (into .venv) for bench-throughput.
	tools/install-bench-deps.sh $(VENV)

.PHONY: bench-litellm
bench-litellm: ## LiteLLM's proxy in its own venv ($(LITELLM_VENV)), to compare against.
	[ -x $(LITELLM_VENV)/bin/litellm ] || { $(PYTHON) -m venv $(LITELLM_VENV) && \
	  $(LITELLM_VENV)/bin/pip install --quiet 'litellm[proxy]$(if $(LITELLM_VERSION),==$(LITELLM_VERSION))'; }

.PHONY: bench-load-shedding
bench-load-shedding: venv bench-deps ## Memory per request in flight, CPU per shed request (bench/results/load-shedding.md).
	$(BIN)/python -m bench.load_shedding

.PHONY: bench-throughput
bench-throughput: venv bench-deps ## Floor vs ours (uncached, cached; SQLite, Redis) vs LiteLLM: req/s, latency, CPU/request, RSS (bench/results/throughput.md, .png).
	LITELLM_VENV=$(LITELLM_VENV) $(BIN)/python -m bench.throughput --profile $(BENCH_ARGS)

.PHONY: bench-paid-path
bench-paid-path: venv ## A paid answer's CPU stage by stage, against the floor's SDK call (bench/results/paid-path.md).
	$(BIN)/python -m bench.paid_path
