"""Extraction tasks as data: ``load_task("ade")``, ``load_task("chemical-disease")`` or a spec file.

Built-in tasks are the YAML files next to this module; a user's task is a file of the same shape
(see :mod:`adekd.tasks.spec`), passed wherever a task name is accepted (``--task FILE``).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from adekd.tasks.spec import (
    AnswerKeys,
    CardText,
    EntityType,
    PromptSpec,
    PubTatorTypes,
    TaskError,
    TaskSpec,
    read_task_file,
)

DEFAULT_TASK = "ade"


def builtin_tasks() -> tuple[str, ...]:
    """Names of the tasks shipped with adekd (one YAML file each in this package)."""
    names = (item.name for item in resources.files("adekd.tasks").iterdir())
    return tuple(sorted(name.removesuffix(".yaml") for name in names if name.endswith(".yaml")))


def load_task(task: str | os.PathLike | TaskSpec | None = None) -> TaskSpec:
    """A built-in task by name, a task spec file by path, or ``task`` itself when it is a spec."""
    if isinstance(task, TaskSpec):
        return task
    name = os.fspath(task) if task is not None else DEFAULT_TASK
    if name in builtin_tasks():
        source = resources.files("adekd.tasks") / f"{name}.yaml"
        with resources.as_file(source) as path:
            return read_task_file(path)
    if Path(name).is_file():
        return read_task_file(name)
    raise TaskError(
        f"task {name!r} is neither a built-in task ({', '.join(builtin_tasks())}) nor a task spec file"
    )


__all__ = [
    "DEFAULT_TASK",
    "AnswerKeys",
    "CardText",
    "EntityType",
    "PromptSpec",
    "PubTatorTypes",
    "TaskError",
    "TaskSpec",
    "builtin_tasks",
    "load_task",
    "read_task_file",
]
