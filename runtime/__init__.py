"""durable-python: plain Python scripts that survive crashes.

Run ``durable-python run script.py``. This package is also the small public API a script may use.
"""

from .errors import Cancelled, DurablePythonError, NondeterminismError

__all__ = ["Cancelled", "DurablePythonError", "NondeterminismError"]
