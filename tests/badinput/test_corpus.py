"""Every input of the bad-input corpus gets either a clean result (valid input) or a non-zero exit
with ONE line naming the file or field and the problem; no traceback ever reaches the user."""

from __future__ import annotations

import json

import pytest

from core.runs.folders import create_run, list_runs, runs_root
from core.training.engine import train
from tests.badinput.corpus import CASES, Case, picture
from tui.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_config_module):
    root = tmp_path_factory.mktemp("corpus-runs")
    run = create_run(tiny_config_module, root)
    train(tiny_config_module, run)
    return run.path


@pytest.fixture(scope="module")
def tiny_config_module(tmp_path_factory):
    from core.config import TrainConfig

    return TrainConfig(model="unet", data="synthetic", epochs=1, batch_size=4, image_size=32, width=8,
                       synthetic_count=12, synthetic_size=32, device="cpu", name="corpus")


def test_the_corpus_is_large_and_distinct():
    assert len(CASES) >= 25
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_bad_input_gets_one_clear_line_and_each_odd_valid_input_works(case: Case, tmp_path, trained_run,
                                                                           capsys):
    argv = case.build(tmp_path, trained_run)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if case.ok:
        assert exit_info.value.code == 0, err
        return
    assert exit_info.value.code not in (0, None)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("seglab: error: ")
    assert case.mentions in lines[0], lines[0]
    assert "internal error" not in lines[0]


def test_the_code_running_checkpoint_ran_nothing(tmp_path, trained_run, capsys):
    case = next(c for c in CASES if c.name == "checkpoint that runs code when unpickled")
    argv = case.build(tmp_path, trained_run)
    with pytest.raises(SystemExit):
        main(argv)
    assert not (tmp_path / "PWNED").exists()
    assert "refused" in capsys.readouterr().err


def test_skip_bad_trains_past_an_unreadable_image_and_counts_it(tmp_path, capsys):
    case = next(c for c in CASES if c.name == "zero-byte image")
    with pytest.raises(SystemExit) as exit_info:
        main([*case.build(tmp_path, tmp_path), "--skip-bad"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    assert "skipped 1 unreadable samples" in out
    (run,) = list_runs(runs_root())
    assert run.read_status().skipped_samples == 1


def test_skip_bad_predicts_past_an_unreadable_image_and_counts_it(tmp_path, trained_run, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    picture().save(photos / "fine.png")
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(trained_run), "--input", str(photos), "--skip-bad", "--name", "skipping"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    assert "skipped 1 unreadable images" in out and "broken.png" in out
    summary = json.loads((trained_run / "predictions" / "skipping" / "summary.json").read_text())
    assert (summary["images"], summary["skipped"]) == (1, 1)
