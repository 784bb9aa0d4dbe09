"""Each service's extra (pyproject.toml) covers every package its code can import.

A service's image installs the wheel with its extra (Dockerfile: ``attune[judge]``). The packages are
derived, not listed: the import closure of the service's entry points (the registry's settings, core
factory, servicer and client, and the launcher), read from the source with ``ast``
(tests/fixtures/imports.py), mapped to distributions with ``importlib.metadata.packages_distributions``.
Every distribution reached must be a requirement of the service's extra or of attune itself, or of an
extra the registry names as optional for that image (the model's vllm backend: gpu).
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib.metadata import packages_distributions

import pytest

from attune.services.common import registry
from tests.fixtures.imports import closure, modules
from tests.fixtures.wheel import ROOT

SELF = re.compile(r"^attune\[([^\]]+)\]$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str:
    return canonical(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0])


@cache
def project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def extra_requirements(extra: str) -> set[str]:
    """Distribution names ``attune[extra]`` installs directly: its own lines, the extras it names, and attune's."""
    names = {requirement_name(line) for line in project()["dependencies"]}
    for line in project()["optional-dependencies"][extra]:
        nested = SELF.match(line.replace(" ", ""))
        names |= set().union(*(extra_requirements(e) for e in nested.group(1).split(","))) if nested \
            else {requirement_name(line)}
    return names


def distributions(top_level: set[str]) -> dict[str, set[str]]:
    """Import name -> the distributions that provide it (an uninstalled one: its own name)."""
    installed = packages_distributions()
    return {name: {canonical(d) for d in installed.get(name, [name])} for name in top_level}


def entry_points(desc: registry.ServiceDescription) -> list[str]:
    paths = (desc.settings, desc.build, desc.register, desc.client)
    main = f"{desc.module}.__main__"
    return ["attune.services.__main__", "attune.services.common.launch", desc.module,
            *([main] if main in modules() else []), *(p.partition(":")[0] for p in paths)]


def uncovered(entries: list[str], extra: str, optional: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """Import names the closure of ``entries`` reaches whose distributions ``attune[extra]`` does not install."""
    allowed = extra_requirements(extra).union(*(extra_requirements(o) for o in optional))
    _, external = closure(entries)
    return {name: dists for name, dists in distributions(external).items() if not dists & allowed}


IMAGES = [d for d in registry.services() if d.image is not None]


@pytest.mark.parametrize("desc", IMAGES, ids=[d.name for d in IMAGES])
def test_the_extra_of_each_service_covers_its_import_closure(desc):
    assert desc.image.extra in project()["optional-dependencies"]
    assert uncovered(entry_points(desc), desc.image.extra, desc.image.optional) == {}


def test_the_attune_command_is_covered_by_the_orchestrator_extra():
    assert uncovered(["attune.orchestrator.entry"], "orchestrator") == {}


def test_a_service_run_with_a_smaller_extra_is_caught():
    """The check can fail: retrieval's code needs torch and Qdrant, which attune[uservec] lacks."""
    missing = uncovered(entry_points(registry.get("retrieval")), "uservec")
    assert {"torch", "qdrant_edge", "sentence_transformers"} <= set(missing)


def test_the_model_reaches_vllm_only_through_its_optional_gpu_extra():
    model = registry.get("model")
    assert set(uncovered(entry_points(model), "model")) == {"vllm"}
    assert model.image.optional == ("gpu",)


def test_light_services_install_no_torch():
    for name in ("uservec", "judge"):
        assert "torch" not in extra_requirements(registry.get(name).image.extra), name
