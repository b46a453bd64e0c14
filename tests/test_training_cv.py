"""Cross-validation over SpERT-format folds: each fold trained and tested, mean and std reported."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from student_support import tiny_encoder
from training_support import ADES, DRUGS

from adekd.cli import main as adekd_main


def _spert_item(index: int) -> dict:
    drug, ade = DRUGS[index % len(DRUGS)], ADES[(index * 5) % len(ADES)]
    tokens = ["The", "patient", "developed", *ade.split(), "while", "taking", drug, "daily", "."]
    ade_start = 3
    ade_end = ade_start + len(ade.split())
    drug_at = tokens.index(drug)
    return {
        "tokens": tokens,
        "entities": [
            {"type": "Adverse-Effect", "start": ade_start, "end": ade_end},
            {"type": "Drug", "start": drug_at, "end": drug_at + 1},
        ],
        "relations": [{"type": "Adverse-Effect", "head": 0, "tail": 1}],
        "orig_id": index,
    }


@pytest.fixture(scope="module")
def splits(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("splits")
    items = [_spert_item(i) for i in range(24)]
    for fold in range(3):
        test = items[fold * 8 : fold * 8 + 8]
        train = [item for item in items if item not in test]
        (folder / f"ade_split_{fold}_train.json").write_text(json.dumps(train))
        (folder / f"ade_split_{fold}_test.json").write_text(json.dumps(test))
    return folder


def test_cv_trains_the_chosen_folds_and_reports_mean_and_std(splits, tmp_path, capsys):
    encoder = tiny_encoder(tmp_path / "encoder")
    output = tmp_path / "cv"
    argv = ["train", "--cv", str(splits), "--folds", "0,2", "--output", str(output),
            "--encoder", str(encoder), "--epochs", "1", "--batch-size", "8",
            "--dev-fraction", "0.2"]  # fmt: skip
    assert adekd_main(argv) == 0

    assert sorted(p.name for p in output.iterdir() if p.is_dir()) == ["fold-0", "fold-2"]
    results = json.loads((output / "cv_results.json").read_text())
    assert results["folds"] == [0, 2]
    per_fold = {}
    for fold in (0, 2):
        metrics = json.loads((output / f"fold-{fold}" / "metrics.json").read_text())
        assert (
            metrics["test"]["num_records"] == 8
            and metrics["train"]["num_records"] + metrics["dev"]["num_records"] == 16
        )
        assert metrics["test"]["source"].endswith(f"ade_split_{fold}_test.json")
        per_fold[fold] = metrics["test"]["metrics"]
    for key in ("strict_f1", "lenient_f1"):
        values = [per_fold[fold][key] for fold in (0, 2)]
        assert results["summary"][key]["mean"] == pytest.approx(statistics.fmean(values))
        assert results["summary"][key]["std"] == pytest.approx(statistics.stdev(values))
    table = (output / "cv_results.md").read_text()
    assert "| 0 |" in table and "| 2 |" in table and "mean ± std" in table

    # --resume reads finished folds back instead of training them again.
    fold_weights = (output / "fold-0" / "model.safetensors").stat().st_mtime_ns
    assert adekd_main([*argv, "--resume"]) == 0
    assert (output / "fold-0" / "model.safetensors").stat().st_mtime_ns == fold_weights
    # ...but not folds trained with other flags, and a fresh run does not train over them.
    written = (output / "cv_results.json").read_text()
    capsys.readouterr()
    assert adekd_main([*argv, "--learning-rate", "1e-3", "--epochs", "2", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "fold 0: " in err and "fold-0 holds a finished student trained with other flags" in err
    assert "--epochs: trained 1, now 2; --learning-rate: trained 5e-05, now 0.001" in err
    assert adekd_main(argv) == 2
    assert "fold 0: " in capsys.readouterr().err
    assert (output / "fold-0" / "model.safetensors").stat().st_mtime_ns == fold_weights
    assert (output / "cv_results.json").read_text() == written


def test_cv_rejects_unknown_folds_and_train(splits, tmp_path, capsys):
    assert adekd_main(["train", "--cv", str(splits), "--folds", "0,7", "--output", str(tmp_path)]) == 2
    assert "--folds [7]: not in" in capsys.readouterr().err
    code = adekd_main(["train", "--cv", str(splits), "--train", "x.jsonl", "--output", str(tmp_path)])
    assert code == 2 and "leave out --train" in capsys.readouterr().err
    assert adekd_main(["train", "--cv", str(tmp_path), "--output", str(tmp_path / "o")]) == 2
    assert "no SpERT folds found" in capsys.readouterr().err
    argv = ["train", "--cv", str(splits), "--test-revision", "v1", "--output", str(tmp_path / "o")]
    code = adekd_main(argv)
    assert code == 2 and "local fold files, which have no revision; leave out --test-revision" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "o").exists()


def test_cv_with_refit_tests_each_folds_refit_student(splits, tmp_path):
    encoder = tiny_encoder(tmp_path / "encoder")
    output = tmp_path / "cv"
    argv = ["train", "--cv", str(splits), "--folds", "1", "--output", str(output), "--encoder", str(encoder),
            "--epochs", "1", "--batch-size", "8", "--dev-fraction", "0.25", "--refit"]  # fmt: skip
    assert adekd_main(argv) == 0
    fold = output / "fold-1"
    metrics = json.loads((fold / "metrics.json").read_text())
    assert metrics["train"]["num_records"] == 16 and metrics["dev"] is None
    assert metrics["selection"]["output_dir"] == "selection"
    assert json.loads((fold / "selection" / "metrics.json").read_text())["train"]["num_records"] == 12
    results = json.loads((output / "cv_results.json").read_text())
    assert results["per_fold"]["1"]["strict_f1"] == metrics["test"]["metrics"]["strict_f1"]
