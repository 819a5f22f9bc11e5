"""The chaos runs (``task chaos``, ``python -m tests.chaos``): docs/chaos.md."""
