"""The app's own logic without a server: model names and loading, the model cache, drug names typed
by the user, uploaded files, and how the callbacks queue."""

from __future__ import annotations

import json

import pytest
from student_support import RECORDS, tiny_encoder

from adekd.demo import DEFAULT_MODEL, DemoConfig, DemoInputError, build_demo, check_model_name
from adekd.demo.app import ModelCache, given_drug_spans, load_model, parse_drug_names, read_upload


def test_given_drug_names_become_spans_and_absent_names_are_named():
    text = "Tremor followed Lithium and 5-fluorouracil."
    assert parse_drug_names(" lithium;5 fluorouracil,\nibuprofen ,") == [
        "lithium",
        "5 fluorouracil",
        "ibuprofen",
    ]
    spans, note = given_drug_spans(text, ["lithium", "5 fluorouracil", "ibuprofen"])
    assert [s["text"] for s in spans] == ["Lithium", "5-fluorouracil"]
    assert note == "Not in the text, ignored: ibuprofen."
    with pytest.raises(DemoInputError, match=r"None of the drugs given \(ibuprofen\) occurs"):
        given_drug_spans(text, ["ibuprofen"])


def test_read_upload_skips_broken_lines_and_names_them(tmp_path):
    path = tmp_path / "gold.jsonl"
    lines = [json.dumps(RECORDS[0]), "{broken json", "", json.dumps(RECORDS[1])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    records, problems = read_upload(str(path), "gold")
    assert records == RECORDS[:2]
    assert len(problems) == 1 and problems[0].startswith("gold.jsonl line 2:")
    assert str(tmp_path) not in problems[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8 text"),
        (b'{"id": "a", "text": "x"}\n\xff\xfe broken', "not UTF-8 text"),
        (b"{not json}\n", "has no valid record: upload.jsonl line 1"),
        (b"", "has no valid record"),
        (
            b'{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n',
            'holds texts without labels: no record has "drugs"',
        ),
    ],
)
def test_read_upload_refuses_files_with_nothing_to_score(tmp_path, content, message):
    path = tmp_path / "upload.jsonl"
    path.write_bytes(content)
    with pytest.raises(DemoInputError, match=message):
        read_upload(str(path), "gold")
    with pytest.raises(DemoInputError, match="Upload a gold JSONL file"):
        read_upload(None, "gold")
    with pytest.raises(DemoInputError, match=r"The gold file 'gone.jsonl' cannot be read \(No such file"):
        read_upload(str(tmp_path / "gone.jsonl"), "gold")


def test_check_model_name_tells_a_missing_folder_from_a_hub_id(tmp_path):
    check_model_name(str(tmp_path))
    check_model_name(DEFAULT_MODEL)
    with pytest.raises(DemoInputError, match="does not exist"):
        check_model_name(str(tmp_path / "missing" / "student"))
    with pytest.raises(DemoInputError, match="does not exist"):
        check_model_name("./students/v1")


def test_the_model_cache_loads_each_name_once_and_keeps_the_last_used():
    loads = []
    cache = ModelCache(lambda name: loads.append(name) or name.upper(), size=2)
    assert cache.get(" a ") == "A" and cache.get("a") == "A" and loads == ["a"]
    cache.get("b")
    cache.get("a")  # "a" is now the most recently used, so "b" goes first
    cache.get("c")
    cache.get("a")
    cache.get("b")
    assert loads == ["a", "b", "c", "b"]
    with pytest.raises(DemoInputError, match="Enter a model"):
        cache.get("  ")


def test_load_model_refuses_a_folder_that_is_not_a_student(tmp_path):
    encoder = tiny_encoder(tmp_path / "bert")
    with pytest.raises(DemoInputError, match=r"is a 'bert' model, not an adekd student"):
        load_model(str(encoder))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DemoInputError, match=r"^Model folder '.*empty' could not be loaded: "):
        load_model(str(tmp_path / "empty"))


@pytest.mark.slow
def test_load_model_gives_an_extraction_pipeline(tiny_trained_student):
    pipe = load_model(str(tiny_trained_student))
    assert pipe(RECORDS[0]["text"])["ades"][0]["text"] == "Acute hepatitis"


def test_the_app_serves_without_its_model_and_queues_model_calls_under_one_limit():
    demo = build_demo("/no/such/student", DemoConfig(concurrency_limit=3, max_queue=5))
    note = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "model-status")
    assert note.value.startswith("**Model folder '/no/such/student' does not exist.** Type another model")
    named = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name in ("extract", "evaluate")}
    assert set(named) == {"extract", "evaluate"}
    assert {fn.concurrency_id for fn in named.values()} == {"model"}
    assert all(fn.concurrency_limit == 3 for fn in named.values())
    assert demo._queue.max_size == 5


def _slider(demo) -> float:
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "threshold").value


def test_the_slider_starts_at_the_students_tuned_threshold_unless_configured(tiny_trained_student, tmp_path):
    import shutil

    student = tmp_path / "student"
    shutil.copytree(tiny_trained_student, student)
    config = json.loads((student / "config.json").read_text())
    assert config["ade_threshold"] is None and _slider(build_demo(str(student))) == 0.5  # not tuned
    (student / "config.json").write_text(json.dumps({**config, "ade_threshold": 0.7}))
    assert _slider(build_demo(str(student))) == 0.7
    # tuned to 0.0 (no cut helped on dev): the slider keeps every ADE the pipeline returns
    (student / "config.json").write_text(json.dumps({**config, "ade_threshold": 0.0}))
    assert _slider(build_demo(str(student))) == 0.0
    assert _slider(build_demo(str(student), DemoConfig(threshold=0.2))) == 0.2
    assert _slider(build_demo("/no/such/student")) == 0.5
