"""'Did you mean ...?' at a bounded cost.

difflib compares a word with every choice, so a file with thousands of misspellings and
thousands of names would take minutes to refuse. A `Suggestions` serves a budget of
look-ups; past it (or for absurd words), messages simply carry no suggestion.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

MAX_WORD = 64


class Suggestions:
    def __init__(self, choices: Iterable[str], *, budget: int = 50, cutoff: float = 0.6) -> None:
        self.choices = [c for c in choices if len(c) <= MAX_WORD]
        self.budget = budget
        self.cutoff = cutoff
        self._seen: dict[str, str | None] = {}

    def closest(self, word: str) -> str | None:
        """The choice closest to `word`, if one is close enough and the budget lasts."""
        if word in self._seen:
            return self._seen[word]
        if self.budget <= 0 or len(word) > MAX_WORD or not self.choices:
            return None
        self.budget -= 1
        found = difflib.get_close_matches(word, self.choices, 1, self.cutoff)
        self._seen[word] = found[0] if found else None
        return self._seen[word]
