"""Sizes of the reliability tests' models (running `mgqe-serve` itself is tests/server/serve_process.py)."""

N_USERS, N_ITEMS = 60, 90  # small models: these tests measure robustness, not speed
