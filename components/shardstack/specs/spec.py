"""Specs: every argument of a concept declared once, with its kind, default and documentation, plus the
rules across arguments, each stated once per spec.

A spec is data. From it come the TypedDict a component takes (generated source, see
:mod:`shardstack.specs.render`), the check that refuses bad values (:meth:`Spec.check`), the defaults
(:meth:`Spec.resolved`) and the stack config's sections and reference. Usage::

    POOL = Spec("Pool", "A pool of nodes.", (
        Arg("min_nodes", Whole(0), "Fewest nodes.", default=0),
        Arg("max_nodes", Whole(1), "Most nodes.", default=1),
    ), rules=(Rule(("min_nodes", "max_nodes"), node_range),))
    POOL.check({"min_nodes": 3, "max_nodes": 2})   # [Problem(('max_nodes',), 'must be ≥ min_nodes (3)', 2)]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from shardstack.errors import did_you_mean
from shardstack.specs.kinds import Kind
from shardstack.specs.problem import Path, Problem


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Final = _NoDefault()
"""The default of an argument that has none: it is required, or leaving it out means 'none'."""


@dataclass(frozen=True)
class Arg:
    """One argument: its name, kind, documentation and default, declared once."""

    name: str
    kind: Kind
    doc: str
    """What the argument means; the documented default is appended from ``default``/``default_doc``."""
    default: Any = NO_DEFAULT
    """The value used when the argument is left out."""
    default_doc: str | None = None
    """What happens by default, in words, when ``default`` alone does not say it (computed defaults, 'none')."""
    required: bool = False

    def documentation(self, show: Callable[[Any], str] = repr) -> str:
        """Return the doc with its default: '... Default: 0.' (``show`` writes values in the reader's syntax)."""
        doc = f"{self.doc} {self.kind.documented}".rstrip()
        if self.required:
            return doc
        if self.default_doc is not None:
            default = self.default_doc
        elif self.default is NO_DEFAULT:
            default = "none"
        else:
            default = show(self.default)
        return f"{doc} Default: {default}."


class Values(Mapping[str, Any]):
    """A spec's arguments as a rule sees them: the valid ones the caller gave, the others' defaults.

    Arguments that failed their own checks are absent, and so are those with neither a value nor a default.
    """

    def __init__(self, spec: Spec, given: Mapping[str, Any], invalid: Iterable[str] = ()) -> None:
        skip = set(invalid)
        self._present = frozenset(k for k in given if k in spec.names)
        self._given = {k: v for k, v in given.items() if k in spec.names and k not in skip}
        self._values = {
            **{a.name: a.default for a in spec.args if a.default is not NO_DEFAULT and a.name not in skip},
            **self._given,
        }

    def given(self, name: str) -> bool:
        """Return whether the caller gave ``name`` (and it passed its own check)."""
        return name in self._given

    def present(self, name: str) -> bool:
        """Return whether the caller gave ``name`` at all, valid or not: what a rule that only asks whether an
        argument is there ("x cannot be combined with y") reads, so that it still speaks when y is wrong too."""
        return name in self._present

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@dataclass(frozen=True)
class Rule:
    """A rule across arguments, stated once: ``check`` returns its problems, with paths in the spec.

    It runs only when every argument it ``reads`` passed its own check (or was left out), so that one
    mistake is reported once; a spec without one of those arguments drops the rule. Arguments it only asks the
    presence of (``Values.present``) go in ``present``: their own problems do not stop it.
    """

    reads: tuple[str, ...]
    check: Callable[[Values], Iterable[Problem]]
    present: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spec:
    """A concept's arguments and rules; ``name`` is the name of the TypedDict generated from it."""

    name: str
    doc: str
    args: tuple[Arg, ...]
    rules: tuple[Rule, ...] = field(default=())

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for arg in self.args:
            if arg.name in seen:
                raise ValueError(f"spec {self.name}: argument {arg.name!r} is declared twice")
            seen.add(arg.name)
        for rule in self.rules:
            unknown = (set(rule.reads) | set(rule.present)) - seen
            if unknown:
                raise ValueError(f"spec {self.name}: a rule reads {sorted(unknown)}, which are not its arguments")

    @property
    def names(self) -> tuple[str, ...]:
        """The argument names, in declaration order."""
        return tuple(arg.name for arg in self.args)

    def arg(self, name: str) -> Arg:
        """Return the argument ``name``."""
        for arg in self.args:
            if arg.name == name:
                return arg
        raise KeyError(f"spec {self.name} has no argument {name!r}")

    def extend(self, name: str, doc: str, args: Sequence[Arg] = (), rules: Sequence[Rule] = ()) -> Spec:
        """Return this spec with more arguments (after its own) and rules, under another name."""
        return Spec(name, doc, (*self.args, *args), (*self.rules, *rules))

    def without(self, names: Iterable[str], *, name: str, doc: str) -> Spec:
        """Return this spec without the arguments ``names`` (and the rules that read them).

        An installation takes its parts' arguments without what it wires itself: checking the rest needs
        no stand-in values.
        """
        dropped = set(names)
        missing = dropped - set(self.names)
        if missing:
            raise ValueError(f"spec {self.name} has no arguments {sorted(missing)}")
        args = tuple(a for a in self.args if a.name not in dropped)
        rules = tuple(r for r in self.rules if not dropped & (set(r.reads) | set(r.present)))
        return Spec(name, doc, args, rules)

    def with_arg(self, name: str, **changes: Any) -> Spec:
        """Return this spec with one argument changed (e.g. its default), keeping its place."""
        args = tuple(replace(a, **changes) if a.name == name else a for a in self.args)
        if args == self.args and name not in self.names:
            raise KeyError(f"spec {self.name} has no argument {name!r}")
        return replace(self, args=args)

    # --- Checks ----------------------------------------------------------------------------------------

    def check(self, values: Any, path: Path = ()) -> list[Problem]:
        """Return every problem with ``values``: unknown and missing arguments, each argument's own
        problems, then the rules over the arguments that passed."""
        if not isinstance(values, Mapping):
            what = "arguments" if not path else f"a mapping of {', '.join(self.names)}"
            return [Problem(path, f"must be {what}", values)]
        problems = self.unknown(values, path)
        invalid: set[str] = set()
        for arg in self.args:
            if arg.name not in values:
                if arg.required:
                    invalid.add(arg.name)
                    problems.append(Problem((*path, arg.name), f"is required: {arg.kind.allowed}"))
                continue
            found = arg.kind.problems(values[arg.name], (*path, arg.name))
            if found:
                invalid.add(arg.name)
                problems += found
        return problems + self.rule_problems(values, invalid, path)

    def rule_problems(self, values: Mapping[str, Any], invalid: Iterable[str] = (), path: Path = ()) -> list[Problem]:
        """Return the problems the rules find, reading only arguments outside ``invalid``."""
        skip = set(invalid)
        view = Values(self, values, skip)
        return [
            problem.within(*path) for rule in self.rules if not skip & set(rule.reads) for problem in rule.check(view)
        ]

    def unknown(self, values: Mapping[str, Any], path: Path = ()) -> list[Problem]:
        """Return a problem for each key of ``values`` that is none of the arguments, with the nearest name."""
        problems = []
        for key in sorted(map(str, set(values) - set(self.names))):
            reason = f"unknown argument {key!r}{did_you_mean(key, self.names)}"
            problems.append(Problem(path, reason if not path else f"has {reason}"))
        return problems

    def from_text(self, values: Any) -> Any:
        """Return ``values`` as read from a stack config, where scalars may arrive as text ('3', 'true')."""
        if not isinstance(values, Mapping):
            return values
        kinds = {arg.name: arg.kind for arg in self.args}
        return {k: kinds[k].from_text(v) if k in kinds else v for k, v in values.items()}

    def only(self, names: Iterable[str], *, name: str, doc: str) -> Spec:
        """Return this spec with only the arguments ``names`` (and the rules that read nothing else)."""
        keep = set(names)
        return self.without([n for n in self.names if n not in keep], name=name, doc=doc)

    def resolved(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``values`` with every documented default filled in (call after :meth:`check` passed)."""
        return dict(Values(self, values))


def arguments_first(validate: Callable[..., list[str]]) -> Callable[..., list[str]]:
    """Decorate a component's ``validate_*_args(args, ...)``: arguments that are not a mapping (None, a string)
    get one problem saying so, instead of reaching code that reads them as a mapping and fails with a TypeError."""

    @functools.wraps(validate)
    def checked(args: Any, *rest: Any, **options: Any) -> list[str]:
        if not isinstance(args, Mapping):
            return [f"the arguments must be a mapping of argument names to values; got {args!r}"]
        return validate(args, *rest, **options)

    return checked
