"""`python -m bench.lunch_rush`: the same as `python -m bench lunch_rush`."""

from __future__ import annotations

import sys

from bench.__main__ import main as bench_main
from bench.lunch_rush.settings import NAME

sys.exit(bench_main([NAME]))
