"""The student model: decoding, batched drug scoring, losses, baselines, save/load (Auto and remote code)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from student_support import RECORDS, one_thread, tiny_encoder, train
from transformers import AutoConfig, AutoModel, pipeline

from adekd.modeling import (
    AdeDataCollator,
    AdeStudentConfig,
    AdeStudentForExtraction,
    AdeStudentProcessor,
    bio_decode,
    bio_spans,
)
from adekd.modeling.modeling_adekd import TAG_B, TAG_I, TAG_O, insert_markers
from adekd.records import validate_record


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("encoder"))


def student(encoder_dir: Path, **config) -> AdeStudentForExtraction:
    torch.manual_seed(1)
    return AdeStudentForExtraction.from_encoder(str(encoder_dir), **config).eval()


def gold_batch(encoder_dir: Path, model: AdeStudentForExtraction, records=RECORDS[:3]) -> dict:
    processor = AdeStudentProcessor.from_pretrained(encoder_dir, config=model.config)
    return AdeDataCollator(processor)(records)


# --- decoding -------------------------------------------------------------------------------------


def _valid(path: tuple[int, ...]) -> bool:
    return all(tag != TAG_I or (i > 0 and path[i - 1] != TAG_O) for i, tag in enumerate(path))


def test_bio_decode_finds_the_best_valid_path():
    torch.manual_seed(0)
    logits = torch.randn(40, 5, 3) * 3
    allowed = torch.rand(40, 5) > 0.2
    tags, probs = bio_decode(logits, allowed)
    log_probs = logits.log_softmax(-1)
    for row in range(40):
        candidates = [
            p
            for p in itertools.product(range(3), repeat=5)
            if _valid(p) and all(allowed[row, i] or tag == TAG_O for i, tag in enumerate(p))
        ]
        best = max(candidates, key=lambda p: sum(log_probs[row, i, t].item() for i, t in enumerate(p)))
        assert tuple(tags[row].tolist()) == best
    assert torch.allclose(probs, logits.softmax(-1).gather(2, tags[..., None]).squeeze(2))


def test_bio_decode_repairs_an_orphan_inside_tag_that_argmax_would_keep():
    # argmax: O I I -> an ADE with no start; the best valid path starts it with B
    logits = torch.tensor([[[5.0, 0.0, 0.0], [0.0, 2.0, 2.5], [0.0, 0.0, 3.0]]]).log_softmax(-1)
    assert logits.argmax(-1).tolist() == [[TAG_O, TAG_I, TAG_I]]
    tags, _ = bio_decode(logits, torch.ones(1, 3, dtype=torch.bool))
    assert tags.tolist() == [[TAG_O, TAG_B, TAG_I]]


def test_bio_spans_and_mean_probability_scores():
    tags = torch.tensor([[TAG_O, TAG_B, TAG_I, TAG_B, TAG_O], [TAG_B, TAG_I, TAG_I, TAG_O, TAG_B]])
    probs = torch.tensor([[1.0, 0.8, 0.6, 0.5, 1.0], [0.9, 0.6, 0.3, 1.0, 0.4]])
    rows, spans, scores = bio_spans(tags, probs)
    assert rows.tolist() == [0, 0, 1, 1]
    assert spans.tolist() == [[1, 3], [3, 4], [0, 3], [4, 5]]
    assert torch.allclose(scores, torch.tensor([0.7, 0.5, 0.6, 0.4]))


def test_insert_markers_keeps_adjacent_spans_nested():
    ids = torch.tensor([[10, 11, 12, 13, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    # drug tokens 1:2, ADE tokens 2:4 (adjacent): the drug's closing marker comes before the ADE's opening one
    positions = torch.tensor([[1, 2, 2, 4]])
    marked, marked_mask, token_pos, marker_pos = insert_markers(
        ids, mask, positions, torch.tensor([7, 8, 5, 6]), torch.tensor([False, True, False, True]), 0
    )
    assert marked.tolist() == [[10, 7, 11, 8, 5, 12, 13, 6, 0]]
    assert marked_mask.tolist() == [[1, 1, 1, 1, 1, 1, 1, 1, 0]]
    assert token_pos.tolist() == [[0, 2, 5, 6, 8]]
    assert marker_pos.tolist() == [[1, 3, 4, 7]]


# --- batched scoring ------------------------------------------------------------------------------


def _marked(ids: list[int], spans: list[tuple[int, int]], markers: list[int]) -> tuple[list[int], list[int]]:
    """Reference marker insertion: the marked ids and where each original token went."""
    inserts = sorted(
        ((position, 0 if k % 2 else 1, k) for k, position in enumerate(p for span in spans for p in span)),
    )
    out, where, pending = [], [], list(inserts)
    for i, token in enumerate([*ids, None]):
        while pending and pending[0][0] == i:
            out.append(markers[pending.pop(0)[2]])
        if token is not None:
            where.append(len(out))
            out.append(token)
    return out, where


@pytest.mark.parametrize(
    "config",
    [{"fusion": "mlp"}, {"fusion": "product"}, {"fusion": "concat"}, {"reencode_per_drug": True}],
    ids=["mlp", "product", "concat", "reencode"],
)
@pytest.mark.parametrize("chunk_numbers", [None, 1], ids=["one-chunk", "a-chunk-per-drug"])
def test_batched_drug_scoring_equals_a_per_drug_loop(encoder_dir, config, chunk_numbers, monkeypatch):
    if chunk_numbers is not None:  # as a batch naming many drugs is scored: in chunks of drugs
        monkeypatch.setattr("adekd.modeling.modeling_adekd.DRUG_CHUNK_NUMBERS", chunk_numbers)
    model = student(encoder_dir, **config)
    batch = gold_batch(encoder_dir, model)
    with torch.no_grad():
        out = model(**{k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "drug_spans")})
        for row, (ids, mask, spans) in enumerate(
            zip(batch["input_ids"], batch["attention_mask"], batch["drug_spans"], strict=True)
        ):
            ids = ids[: int(mask.sum())].tolist()
            for column, (start, end) in enumerate(spans.tolist()):
                if end <= start:
                    assert (out.ade_logits[row, column] == 0).all()
                    continue
                if config.get("reencode_per_drug"):
                    marked, where = _marked(ids, [(start, end)], model.config.drug_marker_ids)
                    states = model.encoder(input_ids=torch.tensor([marked])).last_hidden_state[0, where]
                else:
                    states = model.encoder(input_ids=torch.tensor([ids])).last_hidden_state[0]
                expected = model.ade_head(states[None], states[start:end].mean(0)[None])[0]
                torch.testing.assert_close(
                    out.ade_logits[row, column, : len(ids)], expected, atol=1e-5, rtol=1e-4
                )


def test_pairwise_relations_equal_one_marked_encoder_pass_per_pair(encoder_dir):
    model = student(encoder_dir, architecture="pairwise")
    batch = gold_batch(encoder_dir, model)
    assert batch["relation_labels"][1].tolist() == [1, 0, 0, 1]  # two drugs x two ADE mentions
    with torch.no_grad():
        out = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "drug_spans", "pair_spans")})
        for row, (ids, mask, pairs) in enumerate(
            zip(batch["input_ids"], batch["attention_mask"], batch["pair_spans"], strict=True)
        ):
            ids = ids[: int(mask.sum())].tolist()
            for column, (ds, de, as_, ae) in enumerate(pairs.tolist()):
                if ae <= as_:
                    continue
                markers = [*model.config.drug_marker_ids, *model.config.ade_marker_ids]
                marked, _ = _marked(ids, [(ds, de), (as_, ae)], markers)
                states = model.encoder(input_ids=torch.tensor([marked])).last_hidden_state[0]
                starts = [i for i, token in enumerate(marked) if token in markers]
                drug_marker = starts[0] if ds < as_ else starts[2]
                ade_marker = starts[2] if ds < as_ else starts[0]
                expected = model.relation_head(
                    torch.cat([states[0], states[drug_marker], states[ade_marker]])
                )
                torch.testing.assert_close(out.relation_logits[row, column], expected, atol=1e-5, rtol=1e-4)


def test_concat_fusion_shifts_every_token_alike_while_mlp_tells_drugs_apart(encoder_dir):
    """FINDINGS: a linear head on [h; d] adds the same drug term to every token of the sentence."""
    for fusion, constant in (("concat", True), ("mlp", False)):
        model = student(encoder_dir, fusion=fusion)
        batch = gold_batch(encoder_dir, model, RECORDS[1:2])
        with torch.no_grad():
            logits = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "drug_spans")}).ade_logits[
                0
            ]
        difference = logits[0] - logits[1]  # drug 0 minus drug 1, per token
        assert torch.allclose(difference, difference[:1].expand_as(difference), atol=1e-5) is constant


# --- losses, training contract --------------------------------------------------------------------


@pytest.mark.parametrize("architecture", ["drug_centric", "no_drug", "pairwise"])
def test_forward_returns_losses_for_the_labels_given_and_trains_every_head(encoder_dir, architecture):
    model = student(encoder_dir, architecture=architecture).train()
    batch = gold_batch(encoder_dir, model)
    out = model(**batch)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    torch.testing.assert_close(out.loss, out.drug_loss + out.ade_loss)
    out.loss.backward()
    for name in (*model.head_module_names, "encoder"):
        grads = [p.grad for p in getattr(model, name).parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), name
    no_labels = {k: v for k, v in batch.items() if not k.endswith("labels")}
    assert model(**no_labels).loss is None
    only_drugs = model(**no_labels, drug_labels=batch["drug_labels"])
    assert only_drugs.ade_loss is None and torch.equal(only_drugs.loss, only_drugs.drug_loss)


def test_forward_without_drug_spans_conditions_on_the_drugs_it_decodes(encoder_dir):
    model = student(encoder_dir)
    batch = gold_batch(encoder_dir, model)
    with torch.no_grad():
        out = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            special_tokens_mask=batch["special_tokens_mask"],
        )
    assert out.drug_spans.shape[:1] == (3,) and out.ade_logits.shape[1] == out.drug_spans.shape[1]
    with pytest.raises(ValueError, match="need the drug_spans"):
        model(input_ids=batch["input_ids"], ade_labels=batch["ade_labels"])


@pytest.mark.parametrize(
    "config",
    [{}, {"reencode_per_drug": True}, {"architecture": "pairwise"}],
    ids=["shared", "reencode", "pairwise"],
)
def test_a_batch_without_drugs_gives_zero_losses_and_no_spans(encoder_dir, config):
    model = student(encoder_dir, **config).train().to(torch.bfloat16)
    batch = gold_batch(encoder_dir, model, RECORDS[3:4])  # a sentence without drugs
    assert batch["drug_spans"].shape == (1, 0, 2)
    out = model(**batch)
    assert torch.isfinite(out.loss) and (config or out.ade_loss.item() == 0.0)
    out.loss.backward()
    model.eval()
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "special_tokens_mask", "drug_spans")}
    prediction = model.predict_spans(**inputs)
    assert prediction.drug_spans.shape == (1, 0, 2) and prediction.ade_spans.shape == (1, 0, 3)


def test_marker_architectures_need_marker_ids(encoder_dir):
    config = AdeStudentConfig(
        encoder=AutoConfig.from_pretrained(encoder_dir).to_dict(), architecture="pairwise"
    )
    with pytest.raises(ValueError, match="marker"):
        AdeStudentForExtraction(config)
    with pytest.raises(ValueError, match="architecture must be one of"):
        AdeStudentConfig(architecture="spert")


def test_from_encoder_keeps_the_pretrained_encoder_weights(encoder_dir):
    encoder = AutoModel.from_pretrained(encoder_dir)
    model = student(encoder_dir)
    expected = {k: v for k, v in encoder.state_dict().items() if not k.startswith("pooler")}
    assert model.encoder.state_dict().keys() == expected.keys()
    assert all(torch.equal(model.encoder.state_dict()[k], v) for k, v in expected.items())
    assert model.config.encoder_name_or_path == str(encoder_dir)
    assert model.encoder.config._attn_implementation == "sdpa"


def test_tiny_students_overfit_records_to_exact_character_spans(encoder_dir):
    """Both heads learn: drugs found by the tagger, each ADE attached to its own drug."""
    from adekd.modeling import extract

    for architecture in ("drug_centric", "pairwise"):
        model = student(encoder_dir, architecture=architecture)
        processor = AdeStudentProcessor.from_pretrained(encoder_dir, config=model.config)
        losses = train(model, processor, RECORDS, steps=150)
        assert losses[-1] < 0.05 * losses[0]
        predicted = extract(RECORDS, model=model, tokenizer=processor.tokenizer, batch_size=2)
        for gold, record in zip(RECORDS, predicted, strict=True):
            validate_record(record)
            assert [(d["start"], d["end"]) for d in record["drugs"]] == [
                (d["start"], d["end"]) for d in gold["drugs"]
            ]
            spans = {(a["drug"], a["start"], a["end"]) for a in record["ades"]}
            assert spans == {(a["drug"], a["start"], a["end"]) for a in gold["ades"]}, (
                architecture,
                gold["id"],
            )


# --- save and load --------------------------------------------------------------------------------


def _outputs(model: AdeStudentForExtraction, batch: dict) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        forward = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "special_tokens_mask")})
        spans = model.predict_spans(
            **{k: batch[k] for k in ("input_ids", "attention_mask", "special_tokens_mask")}
        )
    return {"drug_logits": forward.drug_logits, "ade_logits": forward.ade_logits, **spans}


def test_save_and_load_with_the_registered_auto_class(tiny_trained_student, tmp_path):
    model = AutoModel.from_pretrained(tiny_trained_student)
    assert isinstance(model, AdeStudentForExtraction)
    assert isinstance(AutoConfig.from_pretrained(tiny_trained_student), AdeStudentConfig)
    files = set(os.listdir(tiny_trained_student))
    assert {"model.safetensors", "config.json", "modeling_adekd.py", "configuration_adekd.py"} <= files
    config = json.loads((tiny_trained_student / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_adekd.AdeStudentConfig",
        "AutoModel": "modeling_adekd.AdeStudentForExtraction",
    }
    batch = gold_batch(tiny_trained_student, model)
    model.save_pretrained(tmp_path / "again")
    again = AutoModel.from_pretrained(tmp_path / "again")
    for name, value in _outputs(model, batch).items():
        assert torch.equal(value, _outputs(again, batch)[name]), name


REMOTE_CODE_SCRIPT = """
import sys
sys.modules["adekd"] = None  # adekd is not installed here: any import of it fails
try:
    import adekd
except ImportError:
    pass
else:
    raise SystemExit("adekd importable")
import torch
from transformers import AutoModel, pipeline

model = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True)
assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
batch = torch.load(sys.argv[2])
inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "special_tokens_mask")}
with torch.no_grad():
    forward = model(**inputs)
    spans = model.predict_spans(**inputs)
outputs = {"drug_logits": forward.drug_logits, "ade_logits": forward.ade_logits, **spans}
pipe = pipeline(model=sys.argv[4], trust_remote_code=True)
outputs["record"] = pipe(sys.argv[5])
torch.save(outputs, sys.argv[3])
"""


def test_saved_folder_loads_with_trust_remote_code_where_adekd_is_absent(tiny_trained_student, tmp_path):
    model = AutoModel.from_pretrained(tiny_trained_student)
    batch = gold_batch(tiny_trained_student, model)
    torch.save(batch, tmp_path / "batch.pt")
    pipe = pipeline("ade-extraction", model=str(tiny_trained_student))
    pipe.save_pretrained(tmp_path / "with_pipeline")
    text = RECORDS[1]["text"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HF_"))}
    env |= {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(REMOTE_CODE_SCRIPT),
            str(tiny_trained_student),
            str(tmp_path / "batch.pt"),
            str(tmp_path / "out.pt"),
            str(tmp_path / "with_pipeline"),
            text,
        ],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=300,
    )
    remote = torch.load(tmp_path / "out.pt")
    for name, value in _outputs(model, batch).items():
        assert torch.equal(value, remote[name]), name
    assert remote["record"] == pipe(text)
    assert {(a["drug"], a["text"]) for a in remote["record"]["ades"]} == {
        (0, "pancytopenia"),
        (1, "hemorrhagic cystitis"),
    }


# --- argument checks of load_pipeline ---------------------------------------------------------------


def test_load_pipeline_refuses_a_device_torch_cannot_use(encoder_dir, tmp_path):
    from adekd.modeling import init_student, load_pipeline
    from adekd.modeling.pipeline_adekd import check_device

    folder = str(init_student(tmp_path / "student", encoder_dir))
    for device in (None, "cpu", torch.device("cpu"), -1):
        check_device(device)
    assert load_pipeline(folder, device="cpu").device == torch.device("cpu")
    with pytest.raises(ValueError, match=r"^device 'nonsense' is not a torch device; use e\.g\. cpu"):
        load_pipeline(folder, device="nonsense")
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        with pytest.raises(
            ValueError, match=rf"^device 'cuda:{count}' cannot be used: this machine has {count} GPU"
        ):
            load_pipeline(folder, device=f"cuda:{count}")
    else:
        with pytest.raises(
            ValueError, match=r"^device 'cuda:0' cannot be used: no GPU is available to this torch"
        ):
            load_pipeline(folder, device="cuda:0")


def test_load_pipeline_refuses_a_precision_it_cannot_run_in(encoder_dir, tmp_path):
    from adekd.modeling import init_student, load_pipeline

    folder = str(init_student(tmp_path / "student", encoder_dir))
    for dtype in ("int4", "bf16", torch.int8):
        with pytest.raises(
            ValueError, match=rf"^dtype {dtype!r} is not one of float32, bfloat16, float16, int8"
        ):
            load_pipeline(folder, dtype=dtype)
    assert load_pipeline(folder, dtype="bfloat16").model.dtype == torch.bfloat16
    assert load_pipeline(folder, dtype=torch.float16).model.dtype == torch.float16


def test_load_pipeline_names_a_path_that_holds_no_student(encoder_dir, tmp_path):
    from adekd.modeling import load_pipeline

    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    cases = [
        (tmp_path / "empty", ValueError, "is not an adekd student folder: it has no config.json"),
        (tmp_path / "afile", NotADirectoryError, "is a file, not a student folder"),
        (tmp_path / "missing", FileNotFoundError, ": no such model folder"),
        (
            encoder_dir,
            ValueError,
            "is not an adekd student: its config.json has model_type 'bert', not 'adekd_student' "
            "(make one with `adekd train`)",
        ),
    ]
    for path, error, message in cases:
        with pytest.raises(error) as raised:
            load_pipeline(str(path))
        assert str(raised.value) == f"{path}{'' if message.startswith(':') else ' '}{message}"
