"""Computation libraries (numpy, pandas, polars, pyarrow): inline, with their randomness fixed.

Their computations run in the script's process on replay too (``knowledge.MODULES``), their
file and database I/O is recorded like a file's (``knowledge.CALLABLES``), and what would be
seeded from the operating system is seeded from the run instead:

- numpy's global generator (``np.random.rand``, and ``DataFrame.sample()`` through it) starts
  from the run's random seed, like ``random``, when ``numpy.random`` is imported;
- a generator made without a seed (``default_rng()``, ``RandomState()``, ``PCG64()``...) and
  polars' ``sample``/``shuffle`` without ``seed=`` get a seed recorded in the journal.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from typing import Any

from durable_python import frames
from durable_python.integrations import handlers, on_import

_SEED_KEYWORDS = ("seed", "entropy")


def _seed_words(seed: int) -> list[int]:
    """Four 32-bit words from ``seed``: every numpy seeding function takes them."""
    digest = hashlib.sha256(f"numpy:{seed}".encode()).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def numpy_seeded(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """A numpy generator or seeding function given no seed: seeded with a recorded one."""

    def seeded(*args: Any, **kwargs: Any) -> Any:
        keyword = next((k for k in _SEED_KEYWORDS if k in kwargs), None)
        given = kwargs[keyword] if keyword else (args[0] if args else None)
        if given is not None:
            return f(*args, **kwargs)
        words = _seed_words(handlers.recorded_seed(sys._getframe(1), name))
        if keyword:
            return f(*args, **{**kwargs, keyword: words})
        return f(words, *args[1:], **kwargs)

    return seeded


def seed_keyword(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """A method drawing at random unless given ``seed=`` (polars' ``sample``): a recorded one."""

    def seeded(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("seed") is None:
            kwargs["seed"] = handlers.recorded_seed(sys._getframe(1), name) % 2**63
        return f(*args, **kwargs)

    return seeded


def install(seed: int) -> Callable[[], None]:
    """Seed numpy's global generator from ``seed`` (now, or when it is imported); returns what
    puts it back."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        state = numpy_random.get_state()
        numpy_random.seed(_seed_words(seed))
        return lambda: numpy_random.set_state(state)
    return on_import.after_import("numpy.random", lambda module: module.seed(_seed_words(seed)))


frames.hide(numpy_seeded, seed_keyword)
