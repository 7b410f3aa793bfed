"""Only for the optional C resolver; everything else is in pyproject.toml.

Without a C compiler the build goes on and durable-python uses the same resolver in Python.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("durable_python._resolver", ["runtime/_resolver.c"], optional=True)])
