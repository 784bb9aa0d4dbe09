"""The package list: services/ and orchestrator/ are installed under the attune namespace.

Metadata and dependencies live in pyproject.toml; setuptools' ``packages.find``
cannot rename folders, so the list of ``attune.*`` packages is made here.
"""

from setuptools import find_packages, setup

PACKAGES = ["attune", *(f"attune.{p}" for p in find_packages("attune"))]
for folder in ("services", "orchestrator"):
    PACKAGES += [f"attune.{folder}", *(f"attune.{folder}.{p}" for p in find_packages(folder))]

setup(packages=PACKAGES)
