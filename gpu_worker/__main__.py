"""``python -m gpu_worker INPUT --out DIR``: run the imaging pipeline from a terminal."""

from __future__ import annotations

from gpu_worker.pipeline.cli import exit_now, main

if __name__ == "__main__":
    exit_now(main())
