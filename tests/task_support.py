"""A third task, written as a spec file only: exposures and the outcomes they led to.

Its words share nothing with ADE's, so any place that still says "drug" or "ADE" for it shows up.
The prompt asks for the answer keys ``exposures`` / ``exposure`` / ``outcomes``; the test teacher
server answers in them (:func:`toy_answer`).
"""

from __future__ import annotations

import json
from pathlib import Path

from teacher_server import DRUGS, EVENTS

TOY_TASK = """
name: toy-exposure
title: Exposure outcomes
description: >-
  Exposure outcome extraction: the exposures of a sentence and, for each one, the outcomes the
  sentence says it led to.
anchor: {name: exposure, plural: exposures, label: EXPOSURE}
target: {name: outcome, plural: outcomes, label: OUTCOME}
relation: led to
answer_keys: {anchors: exposures, anchor: exposure, targets: outcomes}
card:
  tags: [exposure-outcomes]
  intended_use: Finding sentences that tie an exposure to an outcome, for a person to read.
prompt:
  zero_shot_id: toy-zero-shot-v1
  few_shot_id: toy-few-shot-v1
  user: "Sentence: {text}"
  system: |-
    List every exposure of the sentence and the outcomes it led to, copied from the sentence.
    Answer with one JSON object in this format:
    {schema}
  examples:
    - text: Nausea followed the exposure to benzene.
      answer:
        exposures:
          - exposure: benzene
            outcomes: [Nausea]
"""

TOY_WORDS = {
    "task": "toy-exposure",
    "anchor_type": "exposure",
    "anchor_label": "EXPOSURE",
    "target_type": "outcome",
    "target_label": "OUTCOME",
    "relation": "led to",
}


def toy_task_file(folder: Path) -> Path:
    """Write the toy task's spec to ``folder/toy-exposure.yaml`` and return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "toy-exposure.yaml"
    path.write_text(TOY_TASK, encoding="utf-8")
    return path


def toy_answer(sentence: str) -> str:
    """The test server's teacher for the toy task: each known drug led to each known event, in its keys."""
    lowered = sentence.lower()
    events = [event for event in EVENTS if event in lowered]
    found = [{"exposure": drug, "outcomes": events} for drug in DRUGS if drug in lowered]
    return json.dumps({"exposures": found})


def retargeted_student(student: Path, folder: Path, words: dict[str, str] = TOY_WORDS) -> Path:
    """A copy of a trained student whose config carries ``words``: the same weights, another task's words."""
    import shutil

    from adekd.modeling import AdeStudentConfig

    shutil.copytree(student, folder)
    config = AdeStudentConfig.from_pretrained(folder)
    config.update(words)
    config.save_pretrained(folder)
    return folder
