"""Conflict templates: a message that switches on two options of one conflict group at once.

Each template names the options it triggers (schema option keys within its group), the one that is
correct in context and why. Three rules decide: an explicit request in the message beats a domain
default; a cue that the message negates ("this isn't homework") loses; when the message states the
output's purpose (the target language, a client document), the option serving that purpose wins.

The templates are data: `data/templates.yaml`, validated when it is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from attune.preferences.model import DOMAINS

PLACEHOLDER = "{problem}"


@dataclass(frozen=True)
class ConflictTemplate:
    id: str
    group: str
    text: str
    triggers: tuple[str, ...]
    expected: str
    domain: str | None
    rationale: str


class TemplateError(ValueError):
    """A bad template file; the message names the file, the template and the field."""

    def __init__(self, problem: str, *, path: Path, template: str | None = None, field: str | None = None):
        self.path, self.template, self.field, self.problem = path, template, field, problem
        where = [str(path), f"template {template}" if template else "", field or ""]
        super().__init__(": ".join([w for w in where if w] + [problem]))


def _invalid(message: str) -> PydanticCustomError:
    # A custom error keeps pydantic from prefixing the message with "Value error, ".
    return PydanticCustomError("invalid_template", message)


class _Entry(BaseModel):
    """One template as written in the file; its group is the key it is listed under."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    text: str
    triggers: tuple[str, ...] = Field(min_length=2)
    expected: str
    domain: str | None = None
    rationale: str = Field(min_length=1)

    @field_validator("text")
    @classmethod
    def _one_placeholder(cls, text: str) -> str:
        if text.count(PLACEHOLDER) != 1:
            raise _invalid(f"must contain {PLACEHOLDER} exactly once")
        return text

    @field_validator("triggers")
    @classmethod
    def _distinct(cls, triggers: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(triggers)) != len(triggers):
            raise _invalid("options must not repeat")
        return triggers

    @field_validator("expected")
    @classmethod
    def _among_triggers(cls, expected: str, info: ValidationInfo) -> str:
        triggers = info.data.get("triggers")
        if triggers is not None and expected not in triggers:
            raise _invalid(f"{expected!r} is not one of the triggers ({', '.join(triggers)})")
        return expected

    @field_validator("domain")
    @classmethod
    def _known_domain(cls, domain: str | None) -> str | None:
        if domain is not None and domain not in DOMAINS:
            raise _invalid(f"{domain!r} is not a domain ({', '.join(DOMAINS)}); leave it out for any domain")
        return domain


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rationales: dict[str, str] = {}  # shared rationales, referred to by YAML alias (*negated)
    templates: dict[str, list[_Entry]]


class _UniqueKeyLoader(yaml.SafeLoader):
    """Refuses a key written twice in one mapping, where PyYAML would silently keep the last one
    (a conflict group listed twice would lose its first templates)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key_node.value!r}",
                                                            key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def load_templates(path: str | Path) -> tuple[ConflictTemplate, ...]:
    """Read and validate a template file, in file order. Raises TemplateError naming the template and the field."""
    path = Path(path)
    raw = _read(path)
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as err:
        raise _error(err.errors()[0], raw, path) from None
    return _templates(parsed, path)


def _read(path: Path):
    try:
        with path.open(encoding="utf-8") as stream:
            return yaml.load(stream, Loader=_UniqueKeyLoader)
    except OSError as err:
        raise TemplateError(f"cannot read templates ({err.strerror or err})", path=path) from None
    except yaml.YAMLError as err:
        raise TemplateError(f"not valid YAML ({err})", path=path) from None


def _error(first: dict, raw, path: Path) -> TemplateError:
    """The first validation error, naming the template by id (or by group and index when it has no name)."""
    loc = first["loc"]
    if len(loc) < 4 or loc[0] != "templates" or not isinstance(loc[2], int):
        return TemplateError(first["msg"], path=path, field=".".join(map(str, loc)) or "(top level)")
    group, index = loc[1], loc[2]
    name = raw["templates"][group][index].get("name")
    label = f"{group}.{name}" if isinstance(name, str) and name else f"{group}[{index}]"
    return TemplateError(first["msg"], path=path, template=label, field=".".join(map(str, loc[3:])))


def _templates(parsed: _File, path: Path) -> tuple[ConflictTemplate, ...]:
    templates, ids = [], set()
    for group, entries in parsed.templates.items():
        for entry in entries:
            template = ConflictTemplate(f"{group}.{entry.name}", group, entry.text, entry.triggers, entry.expected,
                                        entry.domain, entry.rationale)
            if not group.strip():
                raise TemplateError("a conflict group must be named", path=path, template=template.id, field="group")
            if template.id in ids:
                raise TemplateError("duplicate id", path=path, template=template.id, field="name")
            ids.add(template.id)
            templates.append(template)
    return tuple(templates)


def _shipped() -> tuple[ConflictTemplate, ...]:
    with resources.as_file(resources.files("attune.orchestrator.conflicts") / "data" / "templates.yaml") as path:
        return load_templates(path)


TEMPLATES: tuple[ConflictTemplate, ...] = _shipped()
