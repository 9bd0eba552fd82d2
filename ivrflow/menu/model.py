"""A loaded, valid menu model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    prompt: float  # seconds; for a node timed by its speech, set by ivrflow.menu.voice
    barge_in: bool = True
    timeout: float = 5.0
    on_timeout: str = "repeat"  # repeat | hangup | a node's name
    max_repeats: int = 2
    options: Mapping[str, str] = field(default_factory=dict)
    collect_max: int | None = None
    collect_end: str | None = None
    collect_min: int = 1
    next: str | None = None
    end: bool = False
    say: str | None = None  # the prompt's words, spoken by the sandbox and `ivrflow test`
    timed_by_speech: bool = False  # say: and no prompt: the speech sets the prompt's length
    line: int = 0
    column: int = 0

    @property
    def collects(self) -> bool:
        return self.collect_max is not None or self.collect_end is not None


@dataclass(frozen=True, slots=True)
class Menu:
    path: str
    name: str
    start: str
    nodes: Mapping[str, Node]

    @property
    def untimed(self) -> list[str]:
        """Nodes whose prompt lasts as long as their speech, not yet measured."""
        return [n.name for n in self.nodes.values() if n.timed_by_speech and n.prompt == 0]
