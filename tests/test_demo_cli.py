"""``adekd demo``: serves the Space app, refuses what cannot work with one line, exports the Space."""

from __future__ import annotations

import pytest
from demo_support import demo_command
from gradio_client import Client
from student_support import RECORDS

from adekd.cli import main


def test_demo_refuses_a_model_folder_that_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "no-student"
    assert main(["demo", "--model", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"adekd demo: error: --model {missing}: Model folder '{missing}' does not exist."


def test_demo_refuses_a_max_chars_below_one(tmp_path, capsys):
    assert main(["demo", "--model", str(tmp_path), "--max-chars", "0"]) == 2
    assert "--max-chars must be at least 1, got 0" in capsys.readouterr().err


def test_demo_export_space_writes_the_space_folder_once(tmp_path, capsys):
    folder = tmp_path / "space"
    assert main(["demo", "--export-space", str(folder)]) == 0
    assert capsys.readouterr().out.strip() == str(folder)
    assert (folder / "README.md").is_file() and (folder / "adekd" / "demo" / "app.py").is_file()
    assert main(["demo", "--export-space", str(folder)]) == 2
    assert "is not empty; choose a new folder" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_serves_the_app_on_the_given_port(tiny_trained_student, tmp_path):
    with demo_command(tiny_trained_student, tmp_path / "demo.log") as url:
        client = Client(url, verbose=False, download_files=False)
        status, table, record = client.predict(
            RECORDS[0]["text"], "", str(tiny_trained_student), 0.5, api_name="/extract"
        )
    assert url.startswith("http://127.0.0.1:")
    assert status == "1 drug, 1 ADE scoring at least 0.50."
    assert table["data"][0][:3] == ["amoxicillin", "27:38", "Acute hepatitis"]
    assert record["ades"][0]["text"] == "Acute hepatitis"
