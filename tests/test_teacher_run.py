"""The labeling engine around the requests: input formats, splitting, lexicon, duplicates, concurrency."""

from __future__ import annotations

import asyncio

import datasets
import pytest
from corpora_fixtures import pubtator_text, write_spert
from teacher_server import FakeOpenAIServer, Fault

from adekd.corpora import load_records
from adekd.teacher import BackendError, LabelConfig, SilverOutputError, is_silver_folder, label, read_inputs
from adekd.teacher.cache import CacheError


@pytest.fixture
def server():
    with FakeOpenAIServer() as server:
        yield server


def config(server, tmp_path, **overrides):
    settings = {"teacher": "openai", "model": "teacher", "base_url": server.url, "progress": False,
                "cache": str(tmp_path / "cache.sqlite"), "retry_initial_delay": 0.01}  # fmt: skip
    return LabelConfig(**{**settings, **overrides})


def test_gold_corpus_input_keeps_its_ids_and_sends_only_text(server, tmp_path):
    path = write_spert(tmp_path / "fold_test.json")
    gold = load_records(path)
    result = label(path, config(server, tmp_path))
    assert [r["id"] for r in result.records] == [g["id"] for g in gold]  # scorable against the gold by id
    assert sorted(server.request_counts()) == sorted(g["text"] for g in gold)
    assert all(r["teacher"] == "openai" for r in result.records)
    assert result.summary["corpus"]["source"] == str(path)


def test_pubtator_is_split_into_sentences_with_document_offsets(server, tmp_path):
    path = tmp_path / "docs.pubtator"
    path.write_text(pubtator_text())
    result = label(path, config(server, tmp_path))
    assert [r["id"] for r in result.records][:2] == ["227508-s0", "227508-s1"]
    document = "".join(pubtator_text().split("|t|")[1].split("\n")[0]) + " "
    first = result.records[1]
    assert first["doc_id"] == "227508" and first["doc_start"] == len(document)
    result.save(tmp_path / "silver")
    silver = datasets.load_dataset(str(tmp_path / "silver"))["train"]
    assert silver.features["doc_start"] == datasets.Value("int32") and silver[1]["doc_start"] == len(document)


def test_split_sentences_on_plain_text(tmp_path):
    (tmp_path / "notes.txt").write_text("Aspirin was given. Then a rash appeared.\nWarfarin and bleeding.\n")
    records = list(read_inputs(tmp_path / "notes.txt", split_sentences=True))
    assert [(r["id"], r["text"], r["doc_start"]) for r in records] == [
        ("notes-1-s0", "Aspirin was given.", 0),
        ("notes-1-s1", "Then a rash appeared.", 19),
        ("notes-2-s0", "Warfarin and bleeding.", 0),
    ]
    assert [r["id"] for r in read_inputs(tmp_path / "notes.txt")] == ["notes-1", "notes-2"]


def test_lexicon_prefilter_skips_sentences_without_a_drug(server, tmp_path):
    (tmp_path / "drugs.txt").write_text("# my lexicon\naspirin\nwarfarin\n")
    texts = ["Aspirin and rash.", "Fever resolved spontaneously.", "Warfarin caused bleeding."]
    result = label(texts, config(server, tmp_path, lexicon=str(tmp_path / "drugs.txt")))
    assert set(server.request_counts()) == {texts[0], texts[2]}
    assert result.summary["counts"]["skipped_no_drug"] == 1 and len(result.records) == 2


def test_duplicates_are_labeled_once_and_optionally_kept_per_id(server, tmp_path):
    inputs = [
        {"id": "a", "text": "Aspirin and rash."},
        {"id": "b", "text": "Aspirin and rash."},
        {"id": "c", "text": ""},
    ]
    dropped = label(inputs, config(server, tmp_path))
    kept = label(inputs, config(server, tmp_path, keep_duplicates=True))
    assert server.request_counts() == {"Aspirin and rash.": 1}
    assert [r["id"] for r in dropped.records] == ["a"] and [r["id"] for r in kept.records] == ["a", "b"]
    assert kept.records[1]["ades"] == kept.records[0]["ades"]
    assert (dropped.summary["counts"]["duplicates"], dropped.summary["counts"]["empty"]) == (1, 1)


def test_concurrency_caps_requests_in_flight(server, tmp_path):
    server.delay = 0.2
    texts = [f"Case {i}: aspirin and rash." for i in range(12)]
    result = label(texts, config(server, tmp_path, concurrency=3))
    assert len(result.records) == 12 and server.max_in_flight == 3


def test_limit_labels_only_the_first_inputs(server, tmp_path):
    result = label([f"Case {i}: aspirin." for i in range(5)], config(server, tmp_path, limit=2))
    assert len(server.chat_requests()) == 2 and result.summary["counts"]["inputs"] == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"teacher": "gpt"}, "teacher must be one of local, openai, vllm"),
        ({"teacher": "vllm", "model": None}, "needs --model"),
        ({"teacher": "local", "structured_output": "response_format"}, "cannot enforce a schema"),
        ({"teacher": "local", "constrain_quotes": True}, "constrain_quotes needs a teacher that enforces"),
        ({"teacher": "vllm", "batch_api": True}, "the Batch API is OpenAI's"),
        ({"concurrency": 0}, "concurrency must be at least 1"),
        ({"temperature": -1.0}, r"temperature \(--temperature\) must be >= 0"),
        ({"request_timeout": -5.0}, r"request_timeout \(--timeout\) must be above 0, got -5.0"),
        ({"requests_per_minute": 0.0}, r"requests_per_minute \(--rpm\) must be above 0"),
        (
            {"model": "/no/such/model"},
            "--model /no/such/model: no such file or folder, and not a Hub model id",
        ),
        ({"model": "teacher.gguf"}, "--model teacher.gguf: no such file or folder"),
        ({"teacher": "vllm", "model": "./no-model"}, "--model ./no-model: no such file or folder"),
    ],
)
def test_impossible_settings_are_refused_before_anything_runs(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        label(["x"], LabelConfig(**{"model": "m", "cache": str(tmp_path / "c.sqlite"), **overrides}))
    assert not (tmp_path / "c.sqlite").exists()


def test_label_inside_a_running_loop_points_at_label_async():
    async def in_a_loop():
        with pytest.raises(RuntimeError, match="await label_async"):
            label(["x"], LabelConfig(model="m"))

    asyncio.run(in_a_loop())


def test_a_local_model_folder_without_a_model_is_named(tmp_path):
    (tmp_path / "empty-model").mkdir()
    with pytest.raises(ValueError, match="is a folder without a model \\(no config.json\\)"):
        label(["x"], LabelConfig(model=str(tmp_path / "empty-model"), cache=str(tmp_path / "c.sqlite")))
    LabelConfig(teacher="openai", model=str(tmp_path / "empty-model")).validate()  # a server's model name


def test_save_refuses_a_folder_adekd_did_not_write_and_rewrites_its_own(server, tmp_path):
    result = label(["Aspirin and rash."], config(server, tmp_path))
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# mine\n")
    with pytest.raises(SilverOutputError, match="holds files adekd label did not write"):
        result.save(project)
    assert [path.name for path in project.iterdir()] == ["README.md"]
    assert not is_silver_folder(project)
    result.save(tmp_path / "silver")
    assert is_silver_folder(tmp_path / "silver")
    result.save(tmp_path / "silver")  # a rerun into its own output
    assert len(datasets.load_dataset(str(tmp_path / "silver"))["train"]) == 1


def test_an_answer_that_breaks_the_parser_is_a_failure_not_a_lost_input(tmp_path):
    answers = {"Aspirin caused a rash.": '{"aspirin", "rash"}', "Nothing here.": '{"drugs": []}'}
    with FakeOpenAIServer(answer=answers.__getitem__) as server:
        result = label(list(answers), config(server, tmp_path))
    assert [r["text"] for r in result.records] == ["Nothing here."]
    assert [f["text"] for f in result.failures] == ["Aspirin caused a rash."]
    assert "unusable answer: answer has no 'drugs' list" in result.failures[0]["error"]
    assert result.failures[0]["raw_response"] == '{"aspirin", "rash"}'


def test_a_rerun_asks_again_for_the_answers_that_could_not_be_used(tmp_path):
    texts = ["Aspirin and rash.", "Warfarin and bleeding."]
    glitch = {"Warfarin and bleeding.": ""}  # an empty answer, as a server under load may send
    with FakeOpenAIServer() as server:
        good = server.answer
        server.answer = lambda text: glitch.get(text, good(text))
        first = label(texts, config(server, tmp_path))
        assert [f["text"] for f in first.failures] == ["Warfarin and bleeding."]
        server.answer, sent = good, len(server.chat_requests())
        second = label(texts, config(server, tmp_path))
        assert [r["sentence"] for r in server.chat_requests()[sent:]] == ["Warfarin and bleeding."]
    assert [r["text"] for r in second.records] == texts and second.failures == []
    assert (second.summary["counts"]["cached"], second.summary["counts"]["requested"]) == (1, 1)


def test_any_error_on_one_answer_makes_its_input_a_failure(server, tmp_path, monkeypatch):
    import adekd.teacher.run as run

    real = run.align_answer

    def align(text, *args):
        if text.startswith("Warfarin"):  # a bug hit by one answer only
            raise RuntimeError("boom")
        return real(text, *args)

    monkeypatch.setattr(run, "align_answer", align)
    result = label(["Aspirin and rash.", "Warfarin and bleeding."], config(server, tmp_path))
    assert [r["text"] for r in result.records] == ["Aspirin and rash."]
    assert result.failures[0]["text"] == "Warfarin and bleeding."
    assert result.failures[0]["error"] == "internal error: RuntimeError: boom"
    assert result.summary["counts"]["failures"] == 1


def test_a_cache_damaged_mid_run_stops_it_with_one_error(server, tmp_path):
    texts = [f"Sentence {i} with aspirin and a rash." for i in range(300)]
    label(texts, config(server, tmp_path))
    with open(tmp_path / "cache.sqlite", "r+b") as handle:  # as a disk error leaves it: one page lost
        handle.seek(4096 * 4)
        handle.write(b"\xff" * 4096)
    with pytest.raises(
        CacheError, match=r"cache\.sqlite cannot be used \(database disk image is malformed\)"
    ):
        label(texts, config(server, tmp_path))


def test_save_refuses_another_runs_silver_folder(server, tmp_path):
    result = label(["Aspirin and rash."], config(server, tmp_path))
    result.save(tmp_path / "silver")
    other = dict(result.summary, task=dict(result.summary["task"], name="chemical_disease"))
    with pytest.raises(SilverOutputError, match=r"another run \(task 'ade', now 'chemical_disease'\)"):
        type(result)(result.records, result.failures, other).save(tmp_path / "silver")
    result.save(tmp_path / "silver")  # the same run again
    other_texts = label(["Warfarin and bleeding."], config(server, tmp_path))  # texts given in memory
    with pytest.raises(SilverOutputError, match=r"another run \(input 'texts [0-9a-f]{16}', now 'texts "):
        other_texts.save(tmp_path / "silver")


def test_the_progress_bar_counts_only_the_inputs_finished_before_a_fatal_error(server, tmp_path, capsys):
    texts = [f"Sentence {i} with aspirin and a rash." for i in range(8)]
    server.fault(texts[2], Fault(status=401))
    with pytest.raises(BackendError):
        label(texts, config(server, tmp_path, concurrency=1, progress=True))
    bar = capsys.readouterr().err.rsplit("\r", 1)[-1]
    assert " 2/8 " in bar and "failed=0" in bar  # the two answered; not 8/8 for the cancelled ones
