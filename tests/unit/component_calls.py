"""How a component's tests call it: with its base arguments, changed per test, rendered under recording mocks or
refused with every problem."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shardstack.errors import ArgumentError
from shardstack.testing import Graph, run_program, run_refused


@dataclass(frozen=True)
class ComponentCalls:
    """``component(name, args)`` with ``base`` arguments: what each of its tests changes is all it writes."""

    component: Callable[[str, Any], object]
    base: Mapping[str, Any]
    name: str = "llm"

    def args(self, **changes: Any) -> dict[str, Any]:
        """The base arguments with ``changes``."""
        return {**self.base, **changes}

    def render(self, **changes: Any) -> Graph:
        """Run the component with the changed arguments; return what it registered."""
        return run_program(lambda: self.component(self.name, self.args(**changes)))

    def failure(self, args: Mapping[str, Any]) -> ArgumentError:
        """Run the component with exactly ``args``; return the error it raised before registering anything."""
        return run_refused(lambda: self.component(self.name, args), ArgumentError)

    def problems(self, **changes: Any) -> list[str]:
        """The problems the component reports for the changed arguments."""
        return self.failure(self.args(**changes)).problems
