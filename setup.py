"""Only for the optional C extensions; everything else is in pyproject.toml.

Without a C compiler the build goes on and durable-python uses the same logic in Python: the
resolver (resolver.py) and the value fast path (recording.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("durable_python._resolver", ["runtime/_resolver.c"], optional=True),
        Extension("durable_python._values", ["runtime/_values.c"], optional=True),
    ]
)
