"""`adekd corpus stats` through the installed console script."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import REPO
from corpora_fixtures import write_ade_corpus

ADEKD = str(REPO / ".venv" / "bin" / "adekd")


def _run(*args, env=None):
    return subprocess.run([ADEKD, *args], capture_output=True, text=True, timeout=120, env=env)


def test_help():
    result = _run("corpus", "stats", "--help")
    assert result.returncode == 0
    assert "PubTator" in result.stdout and "--json" in result.stdout


def test_stats_on_a_corpus_folder_prints_and_writes_json(tmp_path):
    folder = write_ade_corpus(tmp_path / "ade")
    result = _run("corpus", "stats", str(folder), "--json", str(tmp_path / "stats.json"))
    assert result.returncode == 0, result.stderr
    assert "positive records   3" in result.stdout and "relations          6" in result.stdout
    counts = json.loads((tmp_path / "stats.json").read_text())
    assert counts == {
        "source": str(folder),
        "kind": "ade_corpus",
        "records": 7,
        "positive_records": 3,
        "negative_records": 4,
        "drug_mentions": 5,
        "ade_mentions": 6,
        "relations": 6,
        "documents": 3,
    }


def test_errors_are_one_line_with_exit_2(tmp_path):
    result = _run("corpus", "stats", str(tmp_path / "missing"))
    assert result.returncode == 2
    message = "no such file or folder (and not a Hub dataset id of the form owner/name)"
    assert result.stderr.strip().splitlines() == [f"adekd corpus: error: {tmp_path / 'missing'}: {message}"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = _run("corpus", "stats", "ade-benchmark-corpus/ade_corpus_v2", env=env)
    assert result.returncode == 2
    assert "could not load 'ade-benchmark-corpus/ade_corpus_v2' from the Hugging Face Hub" in result.stderr
    assert "pass a local path instead" in result.stderr


@pytest.mark.slow
def test_stats_on_the_real_ade_corpus(shared_data, tmp_path):
    result = _run("corpus", "stats", str(shared_data / "ade_corpus"), "--json", str(tmp_path / "s.json"))
    assert result.returncode == 0, result.stderr
    counts = json.loads((tmp_path / "s.json").read_text())
    assert (counts["positive_records"], counts["relations"], counts["negative_records"]) == (
        4272,
        6821,
        16695,
    )
    assert "relations          6,821" in result.stdout


def test_json_output_that_is_a_folder_is_refused_before_reading_and_a_new_folder_is_made(tmp_path, capsys):
    from adekd.cli import main

    folder = write_ade_corpus(tmp_path / "ade")
    taken = tmp_path / "taken"
    taken.mkdir()
    # the corpus path is missing too: the --json check comes first, before any reading
    assert main(["corpus", "stats", str(tmp_path / "missing"), "--json", str(taken)]) == 2
    error = capsys.readouterr().err
    assert error.strip().splitlines() == [
        f"adekd corpus: error: --json {taken}: {taken} is a folder; give a file name"
    ]
    assert main(["corpus", "stats", str(folder), "--json", str(tmp_path / "new" / "stats.json")]) == 0
    assert json.loads((tmp_path / "new" / "stats.json").read_text())["records"] == 7


def test_stats_on_a_folder_of_pubtator_files_says_which_file_to_pass(tmp_path):
    from corpora_fixtures import pubtator_text

    folder = tmp_path / "bc5cdr"
    folder.mkdir()
    (folder / "CDR_TestSet.PubTator.txt").write_text(pubtator_text())
    result = _run("corpus", "stats", str(folder))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"adekd corpus: error: {folder} holds PubTator files (CDR_TestSet.PubTator.txt), not a dataset: pass "
        f"one of them, e.g. {folder / 'CDR_TestSet.PubTator.txt'} (--task chemical-disease reads its "
        "chemical -> disease annotations)"
    ]
    result = _run("corpus", "stats", str(folder / "CDR_TestSet.PubTator.txt"))
    assert result.returncode == 0 and "(pubtator)" in result.stdout
