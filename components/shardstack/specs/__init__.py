"""Specs: each component argument declared once — name, kind (type, bounds, allowed values), default and
documentation — with the rules across arguments stated once per spec.

From a spec come, without hand copies: the TypedDict a component takes (generated into ``<cloud>/args.py``
by ``scripts/generate_specs.py``; Pulumi's schema inference and IDEs read it), the check that refuses bad
values with one message per problem (path, value, what is allowed), the defaults, and the stack config's
sections and reference (docs/CONFIG.md). The neutral GPU pool is :mod:`shardstack.specs.gpu_pool`; each
cloud extends it in ``shardstack.<cloud>.specs``.
"""

from shardstack.specs.kinds import Choice, Flag, Input, Kind, Labels, ListOf, Record, Text, Whole, Worded
from shardstack.specs.problem import NO_VALUE, Problem, as_arguments
from shardstack.specs.spec import NO_DEFAULT, Arg, Rule, Spec, Values

__all__ = [
    "NO_DEFAULT",
    "NO_VALUE",
    "Arg",
    "Choice",
    "Flag",
    "Input",
    "Kind",
    "Labels",
    "ListOf",
    "Problem",
    "Record",
    "Rule",
    "Spec",
    "Text",
    "Values",
    "Whole",
    "Worded",
    "as_arguments",
]
