"""The package list, from one rule: every folder under attune/, services/ and orchestrator/ is a package.

Metadata and dependencies live in pyproject.toml; setuptools' ``packages.find`` cannot rename
folders, so the ``attune.*`` list is made here. The folders services/ and orchestrator/ install as
attune.services and attune.orchestrator. Every folder counts, whether or not it has an
``__init__.py`` (find_namespace_packages), so a package that lost its ``__init__.py`` still ships,
and data folders (experiments/, samples/) ship their files as package data (pyproject.toml);
tests/unit/test_packaging.py checks that every file of these trees is in the wheel.
"""

from setuptools import find_namespace_packages, setup

ROOTS = {"attune": "attune", "services": "attune.services", "orchestrator": "attune.orchestrator"}


def packages() -> list[str]:
    found = []
    for folder, name in ROOTS.items():
        below = find_namespace_packages(folder, exclude=["__pycache__", "*.__pycache__"])
        found += [name, *(f"{name}.{p}" for p in below)]
    return found


setup(packages=packages())
