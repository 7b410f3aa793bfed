"""The transparency corpus: real code no one here wrote, run with ``python`` and ``durable-python``.

Each module is one of CPython's own test modules, copied at test time from the installed ``test``
package into a temporary directory (so ``test.support`` still resolves from the standard library)
and run as a script (each ends with ``unittest.main()``): ``python test_x.py`` against
``durable-python run test_x.py``. The unittest summary ("Ran N tests", then "OK" or "FAILED (...)")
and the exit code must be the same.

A few are imported by a runner script instead (``IMPORTED``), so the import hook rewrites them.

``test_exceptions``'s ``testSettingException`` expects an exception whose ``__init__`` fails
inside ``_testcapi.raise_exception`` to come from that ``__init__``, called from the test's own
frame: Python instantiates it in the frame that catches it. A recorded call cannot keep that
(recording the exception instantiates it inside the runtime), so CPython's C-API test modules
(``_testcapi`` ...), which touch nothing outside the interpreter, run inline.

Left out on purpose: ``test_compile`` (it inspects the line tables of its own functions'
bytecode, which the rewrite changes by design) and modules that do not pass under plain
``python`` when run this way (``test_unpack``, ``test_pprint``, ``test_funcattrs``, ...).

All runs are started together, at most one per CPU (about a minute of CPU time in all).
"""

from __future__ import annotations

import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from durable_python.testing import Attempt, Sandbox

pytestmark = pytest.mark.corpus

REQUIRED = ["test_grammar", "test_scope", "test_generators", "test_with", "test_contextlib"]
MORE = [
    "test_class",
    "test_super",
    "test_decorators",
    "test_named_expressions",
    "test_positional_only_arg",
    "test_keywordonlyarg",
    "test_exception_group",
    "test_exceptions",
    "test_raise",
    "test_fstring",
    "test_frame",
    "test_dynamic",
    "test_opcodes",
    "test_genexps",
    "test_listcomps",
    "test_global",
    "test_contextlib_async",
    "test_subclassinit",
    "test_string",
    "test_augassign",
    "test_traceback",
    "test_functools",
    "test_enum",
]
# Imported by a two-line runner script rather than run directly, so that the import hook rewrites
# them (test_patma's own ``__main__`` block is a benchmark that needs pyperf).
IMPORTED = ["test_patma", "test_dictcomps", "test_unary"]
MODULES = REQUIRED + MORE + IMPORTED
TIMEOUT = 300

_SUMMARY = re.compile(r"^(?:Ran \d+ tests?|OK\b|FAILED\b).*$", re.MULTILINE)


def _test_package() -> Path | None:
    try:
        import test
    except ImportError:
        return None
    return Path(os.path.dirname(test.__file__))


def summary(output: str) -> list[str]:
    """unittest's result lines, without the time it took."""
    lines = [re.sub(r" in [\d.]+s$", "", line) for line in _SUMMARY.findall(output)]
    return lines[-2:]


@pytest.fixture(scope="module")
def corpus_results(tmp_path_factory, durable_python) -> dict[str, tuple[Attempt, Attempt]]:
    """Both runs of every corpus module, done concurrently: {module: (python, durable-python)}."""
    package = _test_package()
    if package is None:
        pytest.skip("CPython's test package is not installed")
    root = tmp_path_factory.mktemp("corpus")
    jobs = []
    for module in MODULES:
        source = package / f"{module}.py"
        if not source.is_file():
            continue
        sandbox = Sandbox(
            root / module, cache=root / "cache", clear=("DURABLE_PYTHON_",), lib=False
        )
        shutil.copy(source, sandbox.work / source.name)
        script = source.name
        if module in IMPORTED:
            script = f"run_{module}.py"
            sandbox.write(script, f"import unittest\n\nunittest.main(module={module!r})\n")
        for sibling in ("data", "ziptestdata"):  # test_contextlib's chdir tests go there
            (sandbox.work / sibling).mkdir()
        jobs.append((module, sandbox.python, script))
        jobs.append((module, sandbox.run, script))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        outcomes = list(pool.map(lambda job: job[1](job[2], timeout=TIMEOUT, timed_out=True), jobs))
    results: dict[str, list[Attempt]] = {}
    for (module, *_), outcome in zip(jobs, outcomes, strict=True):
        results.setdefault(module, []).append(outcome)
    return {module: (pair[0], pair[1]) for module, pair in results.items()}


@pytest.mark.parametrize("module", MODULES)
def test_module_gives_the_same_unittest_result(corpus_results, module):
    if module not in corpus_results:
        pytest.skip(f"{module}.py is not in this Python's test package")
    plain, durable = corpus_results[module]
    expected = summary(plain.stderr)
    if len(expected) != 2 or not expected[1].startswith("OK"):
        pytest.skip(f"{module} does not pass under plain python here: {expected or plain}")
    assert summary(durable.stderr) == expected, durable.stderr[-3000:]
    assert durable.returncode == plain.returncode == 0
