"""Use cases joining the store with the analytics; the CLI and the web app call only these."""
