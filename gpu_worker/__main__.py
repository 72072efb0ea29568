"""``python -m gpu_worker INPUT --out DIR``: run the imaging pipeline from a terminal."""

from __future__ import annotations

import sys

from gpu_worker.pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
