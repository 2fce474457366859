"""Catalogues: names of pluggable components, resolved to classes only when built.

A catalogue maps a name to an :class:`Entry` — an import path ``"module:Class"`` and a
one-line description — the shape of the package entry points that plugins register
(:mod:`ml2bench.plugins`). Listing a catalogue (``ml2bench list solvers``) reads names and descriptions
without importing the components (and so without importing torch); :meth:`Entry.load`
imports the one class a run needs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One catalogued component: ``name``, ``target`` (``"module:Class"``), description."""

    name: str
    target: str
    description: str = ""

    def load(self):
        """Import and return the object named by ``target``."""
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


def catalogue(*entries: Entry) -> dict[str, Entry]:
    """Entries keyed by name (a duplicate name is a programming error)."""
    table: dict[str, Entry] = {}
    for entry in entries:
        if entry.name in table:
            raise ValueError(f"duplicate catalogue entry {entry.name!r}")
        table[entry.name] = entry
    return table
