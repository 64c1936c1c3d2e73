##@ Ledger

.PHONY: bench-ledger
bench-ledger: venv ## Reserve + release at 0, 1,000, 10,000 holds outstanding, before/after running totals (bench/results/ledger_outstanding.md).
	$(BIN)/python -m bench.ledger_outstanding --out bench/results/ledger_outstanding.md
