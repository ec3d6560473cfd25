"""A section of the stack config (a mapping of keys): unknown keys refused, rules across keys run even when some
keys are invalid, so that one run reports every problem."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, LiteralString, Self, cast, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from shardstack import catalog
from shardstack.specs.problem import NO_VALUE, show
from shardstack.specs.problem import Problem as SpecProblem
from shardstack.specs.render import config_default
from shardstack.specs.spec import Spec

from .problems import Problem, raise_problems, rule_error

# --- Rules across keys, run even when some keys are invalid ------------------------------------------


@dataclass(frozen=True)
class Checked:
    """Which keys of a section passed their own checks: the rules across keys read only those."""

    given: frozenset[str]
    """Keys the user wrote (the others hold defaults)."""
    invalid: frozenset[str]
    """Keys that failed their own checks (or required keys that are missing): never read these."""
    items: Mapping[str, tuple[Item, ...]]
    """For each list of sections (``gpu_pools``): every item, each with what passed in it."""
    sections: Mapping[str, Checked] = field(default_factory=dict)
    """For each invalid key that is a section: what passed in it (its section is partial)."""

    @classmethod
    def of(cls, section: Section) -> Checked:
        """Return the record of a section that passed every check."""
        items: dict[str, tuple[Item, ...]] = {}
        for name in type(section).model_fields:
            value = getattr(section, name)
            if isinstance(value, list) and all(isinstance(v, Section) for v in value):
                sections = cast(list[Section], value)
                items[name] = tuple(Item(i, v, cls.of(v)) for i, v in enumerate(sections))
        return cls(frozenset(section.model_fields_set), frozenset(), items)

    def valid(self, *paths: str) -> bool:
        """Return whether every key in ``paths`` passed; a path reaches into sections: ``model.uri``."""
        return all(self._valid(path) for path in paths)

    def _valid(self, path: str) -> bool:
        name, _, rest = path.partition(".")
        if name not in self.invalid:
            return True
        section = self.sections.get(name)
        return bool(rest) and section is not None and section.valid(rest)


@dataclass(frozen=True)
class Item:
    """One item of a list of sections, with its index; ``section`` is partial unless ``checked`` is clean."""

    index: int
    section: Any
    checked: Checked


class Section(BaseModel):
    """A mapping of keys in the stack config; unknown keys are errors, so that typos are caught.

    Rules that involve more than one key live in ``_rules``. They run after the keys' own checks and,
    when some keys failed, still run on the keys that passed, so that one run reports every problem.
    """

    model_config = ConfigDict(extra="forbid")

    def _rules(self, checked: Checked) -> list[Problem]:
        """Return every problem that involves more than one key; read only keys ``checked.valid``."""
        del checked
        return []

    def _resolve_defaults(self) -> None:
        """Fill in defaults that depend on other keys; called once every rule has passed."""

    @model_validator(mode="wrap")
    @classmethod
    def _check_rules(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            section = handler(data)
        except ValidationError as exc:
            if not isinstance(data, Mapping):
                raise
            partial, checked = cls._partial(cast(Mapping[str, Any], data))
            problems = partial._rules(checked)
            if not problems:
                raise
            details = [*(_reraisable(e) for e in exc.errors()), *(p.details() for p in problems)]
            raise ValidationError.from_exception_data(cls.__name__, details) from None
        raise_problems(cls.__name__, section._rules(Checked.of(section)))
        section._resolve_defaults()
        return section

    @classmethod
    def _partial(cls, data: Mapping[str, Any]) -> tuple[Self, Checked]:
        """Check each key of ``data`` on its own; return a section built from the keys that passed."""
        values: dict[str, Any] = {}
        invalid: set[str] = set()
        items: dict[str, tuple[Item, ...]] = {}
        sections: dict[str, Checked] = {}
        for name, info in cls.model_fields.items():
            if name not in data:
                if info.is_required():
                    invalid.add(name)
                continue
            raw, item_type = data[name], _section_list_item(info.annotation)
            if item_type is not None and isinstance(raw, list):
                items[name] = tuple(_check_item(item_type, i, v) for i, v in enumerate(cast(list[Any], raw)))
                if not any(item.checked.invalid for item in items[name]):
                    values[name] = [item.section for item in items[name]]
                else:
                    invalid.add(name)
                continue
            try:
                values[name] = getattr(_single_key_model(cls, name).model_validate({name: raw}), name)
            except ValidationError:
                invalid.add(name)
                section_type = unwrap(info.annotation)
                if isinstance(raw, Mapping) and isinstance(section_type, type) and issubclass(section_type, Section):
                    values[name], sections[name] = section_type._partial(cast(Mapping[str, Any], raw))
        given = frozenset(name for name in data if name in cls.model_fields)
        return cls.model_construct(**values), Checked(given, frozenset(invalid), items, sections)


def _check_item(item_type: type[Section], index: int, raw: Any) -> Item:
    if not isinstance(raw, Mapping):
        checked = Checked(frozenset(), frozenset(item_type.model_fields), {})
        return Item(index, item_type.model_construct(), checked)
    try:
        section = item_type.model_validate(raw)
    except ValidationError:
        section, checked = item_type._partial(cast(Mapping[str, Any], raw))
        return Item(index, section, checked)
    return Item(index, section, Checked.of(section))


def _section_list_item(annotation: Any) -> type[Section] | None:
    """Return ``X`` when ``annotation`` is ``list[X]`` of a section, else None."""
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        if isinstance(item, type) and issubclass(item, Section):
            return item
    return None


@cache
def _single_key_model(section: type[BaseModel], name: str) -> type[BaseModel]:
    """Return a model holding only the key ``name`` of ``section``, to check that key on its own."""
    info = section.model_fields[name]
    definition: Any = (info.annotation, info)
    return create_model(f"{section.__name__}_{name}", **{name: definition})


def _reraisable(error: ErrorDetails) -> InitErrorDetails:
    """Turn a reported error back into one that can be raised again, keeping its type and context."""
    # The rendered message becomes the template: it has no placeholders left to fill.
    kind, message = cast(LiteralString, error["type"]), cast(LiteralString, error["msg"])
    return InitErrorDetails(
        type=PydanticCustomError(kind, message, error.get("ctx")), loc=error["loc"], input=error["input"]
    )


def unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``| None`` from a type."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        args = get_args(annotation)
        if type(None) in args and len(args) == 2 and get_origin(annotation) is not Literal:
            annotation = next(a for a in args if a is not type(None))
            continue
        return annotation


class SpecSection(Section):
    """A section whose keys are a spec's arguments (see :mod:`shardstack.specs`): the spec checks every key and
    runs its rules, with the same words as the component that takes the same arguments."""

    spec: ClassVar[Spec]

    @classmethod
    def _prefilled(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``data`` read as the spec reads it (text to numbers and booleans) plus derived defaults."""
        return cls.spec.from_text(data)

    @classmethod
    def _spec_problems(cls, data: Mapping[str, Any]) -> list[SpecProblem]:
        return cls.spec.check({k: v for k, v in data.items() if k in cls.spec.names})

    @model_validator(mode="wrap")
    @classmethod
    def _check_rules(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if not isinstance(data, Mapping):
            return handler(data)
        data = cls._prefilled(cast(Mapping[str, Any], data))
        problems = cls._spec_problems(data)
        if problems:
            unknown = [
                InitErrorDetails(type="extra_forbidden", loc=(key,), input=value)
                for key, value in data.items()
                if key not in cls.model_fields
            ]
            details = [*(spec_problem_details(p) for p in problems), *unknown]
            raise ValidationError.from_exception_data(cls.__name__, details)
        section = handler(data)
        raise_problems(cls.__name__, section._rules(Checked.of(section)))
        section._resolve_defaults()
        return section

    @classmethod
    def _partial(cls, data: Mapping[str, Any]) -> tuple[Self, Checked]:
        data = cls._prefilled(data)
        invalid = {str(p.path[0]) for p in cls._spec_problems(data) if p.path}
        valid = {k: v for k, v in data.items() if k in cls.model_fields and k not in invalid}
        values = {k: getattr(_single_key_model(cls, k).model_validate({k: v}), k) for k, v in valid.items()}
        given = frozenset(k for k in data if k in cls.model_fields)
        return cls.model_construct(**values), Checked(given, frozenset(invalid), {})


def spec_problem_details(problem: SpecProblem) -> InitErrorDetails:
    """Return a spec's problem as a pydantic error at its key path, worded as the stack config words it."""
    value = None if problem.value is NO_VALUE else problem.value
    return InitErrorDetails(type=rule_error(problem.as_config_text()), loc=problem.path, input=value)


def spec_field(spec: Spec, name: str, section: type[BaseModel] | None = None) -> Any:
    """Return the pydantic field of the spec's argument ``name``: its default and its documentation; a key that
    holds a ``section`` of defaults when left out names that section."""
    arg = spec.arg(name)
    how, description = config_default(arg), arg.documentation(show)
    if how == "required":
        return Field(description=description)
    if how in ("list", "dict"):
        return Field(default_factory=list if how == "list" else dict, description=description)
    if how == "section" and section is not None:
        return Field(default_factory=lambda: section.model_validate({}), description=description)
    return Field(default=None if how == "none" else arg.default, description=description)


class GpuPoolSection(SpecSection):
    """A GPU pool entry, whose name defaults to its GPU's catalogue key."""

    @classmethod
    def _prefilled(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        values = super()._prefilled(data)
        # Only a catalogue key is a sensible name; otherwise the missing name is reported as missing.
        gpu = values.get("gpu")
        if "name" not in values and isinstance(gpu, str) and gpu in catalog.GPUS:
            values["name"] = gpu
        return values


def checked_by(spec: Spec, name: str) -> BeforeValidator:
    """Return the validator of a key outside any spec-backed section that is the spec's argument ``name``: it reads
    the value as the spec does and refuses it with the spec's words."""
    kind = spec.arg(name).kind

    def check(value: Any) -> Any:
        value = kind.from_text(value)
        problems = kind.problems(value, ())
        if problems:
            raise_problems(name, [Problem(p.path, p.as_config_text(), p.value) for p in problems])
        return value

    return BeforeValidator(check)
