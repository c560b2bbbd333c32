"""Shell completion: `seglab --help` offers to install it, and a run argument completes to the run names."""

from __future__ import annotations

import os
import subprocess
import sys

from core.config import TrainConfig
from core.runs.folders import create_run, runs_root
from tests.tui.test_cli import seglab


def complete(*words: str) -> list[str]:
    """What bash completion offers for the last word, through Click's completion protocol, as a shell asks."""
    env = {**os.environ, "_SEGLAB_COMPLETE": "complete_bash", "COMP_WORDS": " ".join(("seglab", *words)),
           "COMP_CWORD": str(len(words))}
    done = subprocess.run([sys.executable, "-m", "tui.cli"], env=env, capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_help_offers_to_install_completion(capsys):
    code, out, _ = seglab(capsys, "--help")
    assert code == 0 and "--install-completion" in out and "--show-completion" in out


def test_run_arguments_complete_to_the_run_names():
    pets = create_run(TrainConfig(name="pets"), runs_root())
    demo = create_run(TrainConfig(name="demo"), runs_root())
    assert sorted(complete("evaluate", "")) == sorted([pets.name, demo.name])
    assert complete("compare", pets.name, demo.name[:-2]) == [demo.name]
    assert complete("predict", "1999") == []


def test_options_with_choices_complete_to_their_choices():
    assert complete("train", "--model", "resnet1") == ["resnet18_unet", "resnet101_unet", "resnet152_unet"]
    assert complete("train", "--task", "") == ["binary", "multiclass"]


def test_options_that_name_a_run_and_sweep_show_complete_to_names():
    from core.sweeps.storage import sweep_folder

    pets = create_run(TrainConfig(name="pets"), runs_root())
    for option in ("--resume", "--from", "--init-from"):
        assert complete("train", option, pets.name[:8]) == [pets.name], option
    sweep_folder(runs_root(), "lr-search").mkdir(parents=True)
    assert complete("sweep", "show", "lr") == ["lr-search"]
