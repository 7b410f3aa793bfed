"""The time timers, suspended runs and the worker go by.

The system time plus ``DURABLE_PYTHON_TEST_CLOCK_OFFSET`` seconds, so that tests can move every
process's clock forward (a 2-hour timer falls due now) without waiting.
"""

from __future__ import annotations

import os
import time

OFFSET = float(os.environ.get("DURABLE_PYTHON_TEST_CLOCK_OFFSET") or 0)


def now() -> float:
    """Epoch seconds, shifted by the test offset."""
    return time.time() + OFFSET
