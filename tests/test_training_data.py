"""Training data checks (before any step), the dev split and the length-grouped batches."""

from __future__ import annotations

import json

import pytest
from training_support import make_records

from adekd.records import write_jsonl
from adekd.training.data import (
    LengthGroupedBatchSampler,
    TrainingDataError,
    carve_dev_split,
    load_training_records,
)


def _broken_records(tmp_path, count=10, broken=(2, 5, 7)):
    records = make_records(count)
    for index in broken:
        records[index]["drugs"][0]["end"] += 500  # span beyond the text
    path = tmp_path / "train.jsonl"
    write_jsonl(records, path)
    return path


def test_invalid_spans_stop_with_count_and_first_ids(tmp_path):
    path = _broken_records(tmp_path)
    with pytest.raises(TrainingDataError) as err:
        load_training_records(str(path))
    message = str(err.value)
    assert "3 of 10 records are invalid" in message
    assert "line 3" in message and "'r2'" in message
    assert "--on-invalid skip" in message


def test_invalid_spans_skipped_when_asked(tmp_path, caplog):
    path = _broken_records(tmp_path)
    loaded = load_training_records(str(path), on_invalid="skip")
    assert len(loaded.records) == 7 and loaded.num_invalid == 3
    assert {"r2", "r5", "r7"}.isdisjoint(r["id"] for r in loaded.records)
    assert "skipping them" in caplog.text


def test_empty_file_stops(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(TrainingDataError, match="cannot read|no usable records"):
        load_training_records(str(path), role="dev")


def test_unreadable_line_names_the_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(make_records(1)[0]) + "\n{not json\n")
    with pytest.raises(TrainingDataError) as err:
        load_training_records(str(path))
    assert "line 2" in str(err.value)


def test_missing_source_names_the_flag(tmp_path):
    with pytest.raises(TrainingDataError, match=r"--test .*nothing-here\.jsonl"):
        load_training_records(str(tmp_path / "nothing-here.jsonl"), role="test")


def test_unlabeled_text_is_not_training_data(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("Rash after aspirin.\nNausea with lithium.\n")
    with pytest.raises(TrainingDataError, match="none of the 2 records has a drug mention"):
        load_training_records(str(path))


def test_duplicate_ids_stop(tmp_path):
    records = make_records(4)
    records[3]["id"] = records[1]["id"]
    path = tmp_path / "train.jsonl"
    write_jsonl(records, path)
    with pytest.raises(TrainingDataError, match="1 record ids occur more than once"):
        load_training_records(str(path))


def test_dev_split_is_deterministic_and_order_independent():
    records = make_records(50)
    train, dev = carve_dev_split(records, 0.2, seed=3)
    assert len(dev) == 10 and len(train) == 40
    assert {r["id"] for r in train}.isdisjoint(r["id"] for r in dev)
    _, dev_again = carve_dev_split(list(reversed(records)), 0.2, seed=3)
    assert {r["id"] for r in dev_again} == {r["id"] for r in dev}
    _, other_seed = carve_dev_split(records, 0.2, seed=4)
    assert {r["id"] for r in other_seed} != {r["id"] for r in dev}


def test_dev_split_needs_two_records():
    with pytest.raises(TrainingDataError, match="give --dev"):
        carve_dev_split(make_records(1), 0.1, seed=0)


def test_batches_cover_every_index_once_and_only_the_last_is_short():
    lengths = [(i * 7) % 31 + 1 for i in range(103)]
    sampler = LengthGroupedBatchSampler(lengths, batch_size=8, seed=0, mega_batch_factor=4)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 13
    assert sorted(i for batch in batches for i in batch) == list(range(103))
    assert all(len(batch) == 8 for batch in batches[:-1]) and len(batches[-1]) == 7


def test_batch_order_depends_on_seed_and_epoch_only():
    lengths = list(range(64))
    sampler = LengthGroupedBatchSampler(lengths, batch_size=4, seed=1)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_length_grouping_cuts_padding():
    lengths = [(i * 37) % 200 + 5 for i in range(400)]

    def padding(group: bool) -> int:
        batches = LengthGroupedBatchSampler(lengths, 16, seed=0, group_by_length=group)
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    assert padding(True) < padding(False) / 5
