"""A task's words as readers see them: in cards, the demo's tables and highlights, and run summaries.

A student carries its task's type names in its config (``AdeStudentConfig.type_names()``, the six
keys of :meth:`adekd.tasks.TaskSpec.type_names`); :class:`TaskWords` turns them into the short nouns
that tables and counters need. The short noun of a type is the shorter of its name and its label:
``ADE`` for "adverse event", but "drug" rather than ``DRUG`` and "disease" rather than ``DISEASE``,
so the ADE task reads as it always has ("2 drugs, 3 ADEs", "(drug, ADE) pairs") and others read as
plainly ("(chemical, disease) pairs").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from adekd.tasks.spec import TaskSpec


def _short(name: str, label: str) -> str:
    return label if len(label) < len(name) else name


@dataclass(frozen=True)
class TaskWords:
    """The six type names of a task, and the short nouns and phrases built from them."""

    task: str
    anchor_type: str
    anchor_label: str
    target_type: str
    target_label: str
    relation: str

    @classmethod
    def of(cls, source: TaskSpec | Mapping[str, Any] | Any = None) -> TaskWords:
        """Words of a :class:`TaskSpec`, a type-names mapping (a ``config.json``), a model config, or None.

        Names missing from a mapping or config (a student saved before tasks existed) are the ADE
        task's, as :class:`~adekd.modeling.AdeStudentConfig` defaults them.
        """
        from adekd.tasks import load_task

        default = load_task("ade").type_names()
        if isinstance(source, TaskSpec):
            return cls(**source.type_names())
        if source is None:
            return cls(**default)
        if not isinstance(source, Mapping):  # a model config or any object with the attributes
            source = {name: getattr(source, name, None) for name in default}
        return cls(**{name: source.get(name) or value for name, value in default.items()})

    def type_names(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def builtin_spec(self) -> TaskSpec | None:
        """The built-in task with these words, for its title and examples (None for a user's own task)."""
        from adekd.tasks import builtin_tasks, load_task

        if self.task not in builtin_tasks():
            return None
        spec = load_task(self.task)
        return spec if spec.type_names() == self.type_names() else None

    @property
    def anchor(self) -> str:
        """The anchor's short noun: ``drug``, ``chemical``."""
        return _short(self.anchor_type, self.anchor_label)

    @property
    def target(self) -> str:
        """The target's short noun: ``ADE``, ``disease``."""
        return _short(self.target_type, self.target_label)

    @property
    def pair(self) -> str:
        """One unit of the pair metric: ``(drug, ADE)``."""
        return f"({self.anchor}, {self.target})"

    @property
    def pairs(self) -> str:
        """What the pair metric counts: ``(drug, ADE) pairs``."""
        return f"{self.pair} pairs"


__all__ = ["TaskWords"]
