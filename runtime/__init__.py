"""durable-python: plain Python scripts that survive crashes.

Run ``durable-python run script.py``. This package is also the small public API a script may use.
"""

from .api import activity, idempotency_key
from .errors import Cancelled, DurablePythonError, NondeterminismError, UnsavedResultError

__all__ = [
    "Cancelled",
    "DurablePythonError",
    "NondeterminismError",
    "UnsavedResultError",
    "activity",
    "idempotency_key",
]
