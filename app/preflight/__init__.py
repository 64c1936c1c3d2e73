"""Start-up checks: what the CLI verifies before serving (a configuration error is one line
naming the variable or field, then exit EX_CONFIG), and `sre-ai-platform check`, which runs
every check without serving (CI, an init container). docs/architecture.md."""
