"""Ledger stores behind one interface (base.LedgerStore): memory, SQLite, Redis."""
