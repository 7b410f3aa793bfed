"""durable-python: plain Python scripts that survive crashes.

Run ``durable-python run script.py``. This package is also the small public API a script may use.
"""

# The public names, each imported when first used (PEP 562): ``durable-python run`` starts by
# importing this package, and a hello-world start must not pay for modules it never needs.
_HOME = {
    "activity": "api",
    "idempotency_key": "api",
    "pure": "api",
    "resource": "api",
    "run_id": "api",
    "trigger": "api",
    "Cancelled": "errors",
    "DurablePythonError": "errors",
    "NondeterminismError": "errors",
    "UnsavedResultError": "errors",
    "send": "waiting",
    "wait_for_event": "waiting",
    "RetryPolicy": "retries",
    "retry": "retries",
    "deprecate_patch": "versioning",
    "patched": "versioning",
}


def __getattr__(name: str) -> object:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'durable_python' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"durable_python.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Cancelled",
    "DurablePythonError",
    "NondeterminismError",
    "UnsavedResultError",
    "activity",
    "deprecate_patch",
    "idempotency_key",
    "patched",
    "pure",
    "resource",
    "retry",
    "RetryPolicy",
    "run_id",
    "send",
    "trigger",
    "wait_for_event",
]
