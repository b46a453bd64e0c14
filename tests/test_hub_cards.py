"""Card templates: they render from sparse inputs without inventing numbers, and bad metadata is refused."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from conftest import REPO
from huggingface_hub import DatasetCard, ModelCard

from adekd.hub import PublishError, check_card, dataset_card, model_card, size_category
from adekd.modeling import AdeStudentConfig
from adekd.records import new_record, records_to_dataset


def test_dataset_card_from_an_empty_summary_says_what_is_unknown():
    text = "Hepatitis after amoxicillin."
    drugs = [{"text": "amoxicillin", "start": 16, "end": 27}]
    ades = [{"drug": 0, "text": "Hepatitis", "start": 0, "end": 9}]
    records = [new_record(f"s{i}", text, drugs, ades) for i in range(3)]

    card = dataset_card({"train": records_to_dataset(records)}, {}, load_id="my-org/ade-silver")

    data = card.data.to_dict()
    assert data["annotations_creators"] == ["machine-generated"]
    assert data["size_categories"] == ["n<1K"]
    assert data["license"] == "unknown" and data["language"] == ["en"]
    assert data["task_categories"] == ["token-classification"]
    assert "Not measured" in card.text
    assert "The input corpus was not recorded." in card.text
    assert "| drug mentions | not recorded |" in card.text
    assert "| cost (USD) | not recorded |" in card.text
    assert 'load_dataset("my-org/ade-silver")' in card.text
    assert "arXiv:2307.06439" in card.text
    assert "| `drugs` | `list of {text, start, end, score}` |" in card.text


def test_model_card_without_metrics_or_training_config_says_not_evaluated(tmp_path):
    AdeStudentConfig().save_pretrained(tmp_path)

    card = model_card(tmp_path, load_id="my-org/ade-student")

    data = card.data.to_dict()
    assert "model-index" not in data and "metrics" not in data
    assert "An **untrained** student" in card.text and "knowledge-distillation" not in data["tags"]
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "token-classification"
    assert "Not evaluated" in card.text
    assert "| (drug, ADE) pairs |" not in card.text
    assert "| training time | not recorded |" in card.text
    assert "score threshold" not in card.text  # none tuned
    AdeStudentConfig(drug_threshold=0.8, ade_threshold=0.5).save_pretrained(tmp_path)
    tuned = model_card(tmp_path, load_id="my-org/ade-student").text
    assert "| drug score threshold | 0.8 |" in tuned and "| ADE score threshold | 0.5 |" in tuned
    AdeStudentConfig(drug_threshold=0.0, ade_threshold=0.0).save_pretrained(tmp_path)  # tuned: keep all
    zero = model_card(tmp_path, load_id="my-org/ade-student").text
    assert "| drug score threshold | 0 |" in zero and "| ADE score threshold | 0 |" in zero
    assert 'pipeline("ade-extraction", model="my-org/ade-student", trust_remote_code=True)' in card.text
    # without adekd: no interactive trust prompt on the tokenizer, and the transformers the code needs
    assert 'AutoTokenizer.from_pretrained("my-org/ade-student", trust_remote_code=True)' in card.text
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (requirement,) = [r.split("#")[0].strip() for r in pyproject if r.startswith("transformers")]
    assert f"`{requirement}`" in card.text
    assert "Not a clinical decision tool" in card.text


@pytest.mark.parametrize(
    ("rows", "category"),
    [(0, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"), (99_999, "10K<n<100K"), (2_500_000, "1M<n<10M")],
)
def test_size_category(rows, category):
    assert size_category(rows) == category


@pytest.mark.parametrize(
    ("card", "problem"),
    [
        (
            DatasetCard("---\nlicense: mit\nannotations_creators: [robots]\n---\n"),
            "annotations_creators 'robots'",
        ),
        (DatasetCard("---\nlicense: mit\nsize_categories: [tiny]\n---\n"), "size_categories 'tiny'"),
        (DatasetCard("---\nlicense: mit\ntask_categories: [ade-extraction]\n---\n"), "not a Hub task"),
        (DatasetCard("---\nlicense: mit\nconfigs: [{data_files: x}]\n---\n"), "configs"),
        (
            ModelCard("---\nlicense: mit\npipeline_tag: ade-extraction\n---\n"),
            "pipeline_tag 'ade-extraction'",
        ),
        (ModelCard("---\nlicense: mit\nbase_model: /tmp/encoder\n---\n"), "base_model '/tmp/encoder'"),
        (ModelCard("---\nlicense: mit\nlanguage: [english]\n---\n"), "language 'english'"),
        (ModelCard("---\nlanguage: [en]\n---\n"), "no license"),
        (
            ModelCard("---\nlicense: my own license\n---\n"),
            "license 'my own license' is not a Hub license id",
        ),
        (ModelCard("---\nlicense: mit\ndatasets: [me/ade silver]\n---\n"), "dataset 'me/ade silver'"),
    ],
)
def test_check_card_refuses_metadata_the_hub_would_refuse(card, problem):
    with pytest.raises(PublishError, match="not valid for the Hub") as err:
        check_card(card)
    assert problem in str(err.value)


def test_templates_ship_inside_the_package_and_hub_cards_points_at_them():
    import tomllib

    from conftest import REPO

    from adekd.hub import DATASET_CARD_TEMPLATE, MODEL_CARD_TEMPLATE, TEMPLATES

    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "hub_cards/*.md" in package_data["adekd"]
    for name in (DATASET_CARD_TEMPLATE, MODEL_CARD_TEMPLATE):
        assert (TEMPLATES / name).is_file()
        assert (REPO / "hub_cards" / name).resolve() == (REPO / "adekd" / "hub_cards" / name).resolve()


def test_model_card_names_the_hub_id_of_the_packaged_encoder_and_no_local_path(tmp_path):
    from adekd.modeling.student import resolve_encoder

    AdeStudentConfig(encoder_name_or_path=resolve_encoder("minilm")).save_pretrained(tmp_path / "packaged")
    AdeStudentConfig(encoder_name_or_path=str(tmp_path / "my-encoder")).save_pretrained(tmp_path / "local")
    (tmp_path / "my-encoder").mkdir()

    packaged = model_card(tmp_path / "packaged", load_id="x").data.to_dict()
    local = model_card(tmp_path / "local", load_id="x")

    assert packaged["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert "base_model" not in local.data.to_dict()
    assert "| base encoder | my-encoder |" in local.text and str(tmp_path) not in local.text


@pytest.mark.parametrize(
    ("metrics", "problem"),
    [
        ([1, 2], "expected a JSON object, found list"),
        ({"test": [0.5]}, "'test' should be an object or null"),
        ({"test": {"metrics": {"strict_f1": "high"}}}, "'test.metrics' values strict_f1 should be numbers"),
        ({"dev": {"metrics": 0.7}}, "'dev.metrics' should be an object"),
    ],
)
def test_a_hand_edited_metrics_file_of_another_shape_is_named(tmp_path, metrics, problem):
    AdeStudentConfig().save_pretrained(tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))

    with pytest.raises(PublishError, match=re.escape(f"metrics.json: {problem}")):
        model_card(tmp_path, load_id="my-org/ade-student")
