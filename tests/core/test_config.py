"""TrainConfig: defaults of the original experiment, one-line errors naming the field, bounds from each field's
spec, presets, absolute paths, and the JSON round trip kept in every run folder."""

from __future__ import annotations

import json

import pytest

from core.config import (
    FIELD_SPECS,
    PRESETS,
    SYNTHETIC,
    TrainConfig,
    load_config,
    save_config,
)
from core.errors import ConfigError


def test_defaults_are_the_original_experiments():
    config = TrainConfig()
    assert (config.model, config.batch_size, config.lr, config.loss, config.val_fraction) == (
        "unet", 16, 5e-4, "bce", 0.1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lr": 0}, "lr: must be a positive number, got 0"),
        ({"lr": float("nan")}, "lr: must be a positive number, got nan"),
        ({"epochs": 0}, "epochs: must be a whole number from 1 to 1,000,000, got 0"),
        ({"image_size": 15}, "image_size: must be a whole number from 16 to 8,192, got 15"),
        # the largest numbers a run can use: beyond them torch overflowed or allocated 100s of GB, an internal error
        ({"image_size": 10**20}, "image_size: must be a whole number from 16 to 8,192, got 100000000000000000000"),
        ({"seed": 2**32}, "seed: must be a whole number from 0 to 4,294,967,295, got 4294967296"),
        ({"batch_size": 65_537}, "batch_size: must be a whole number from 1 to 65,536, got 65537"),
        ({"width": 1_025}, "width: must be a whole number from 1 to 1,024, got 1025"),
        ({"time_budget": 1e306}, "time_budget: must be a number of minutes from 0 to 1,000,000, got 1e+306"),
        ({"synthetic_size": 4_097}, "synthetic_size: must be a whole number from 16 to 4,096, got 4097"),
        ({"weight_decay": -0.1}, "weight_decay: must be >= 0, got -0.1"),
        ({"val_fraction": 1.0}, "val_fraction: must be between 0 and 1 (exclusive), got 1.0"),
        ({"ema": 1.0}, "ema: a decay between 0 and 1 (exclusive), or 0 for off, got 1.0"),
        ({"workers": -2}, "workers: must be >= 0, or -1 for auto, got -2"),
        ({"synthetic_count": 2}, "synthetic_count: must be a whole number from 3 to 1,000,000, got 2"),
        ({"seed": 1.5}, "seed: expected int, got 1.5"),
        ({"compile": 1}, "compile: expected bool, got 1"),
        ({"epochs": True}, "epochs: expected int, got True"),
        ({"loss": "focal"}, "loss: 'focal' is not one of bce, dice, bce+dice, ce, ce+dice"),
        ({"preset": "fast"}, "preset: 'fast' is not one of paper, small-data, pretrained, demo"),
        ({"data": ""}, "data: give a dataset folder or 'synthetic'"),
        ({"name": "a/b"}, "run name: 'a/b' must not contain '/', '\\' or '..'"),
        ({"encoder_weights": "w.pth"}, "encoder_weights: apply to resnet18_unet, resnet34_unet, resnet50_unet, "
                                       "resnet101_unet, resnet152_unet, efficientnet_lite0_unet, deeplabv3_resnet50, "
                                       "deeplabv3_resnet101, deeplabv3_mobilenet_v3_large, lraspp_mobilenet_v3_large, "
                                       "fcn_resnet50 only, not unet"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_field_and_the_value(changes, message):
    with pytest.raises(ConfigError) as error:
        TrainConfig(**changes)
    assert str(error.value) == message


def test_the_emas_zero_means_off_and_is_allowed():
    assert TrainConfig(ema=0.0).ema == 0.0 and TrainConfig(ema=0.99).ema == 0.99


def test_every_field_has_a_label_and_help():
    assert all(spec.label and spec.help for spec in FIELD_SPECS.values())


def test_presets_are_valid_configs_that_record_their_own_name():
    assert all(config.preset == name for name, config in PRESETS.items())


def test_with_absolute_paths_resolves_folders_and_files_but_keeps_synthetic_and_run_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights.pth").write_bytes(b"")
    config = TrainConfig(model="resnet34_unet", data="mydata", encoder_weights="weights.pth",
                         init_from="20261128-1425").with_absolute_paths()
    assert config.data == str(tmp_path / "mydata")
    assert config.encoder_weights == str(tmp_path / "weights.pth")
    assert config.init_from == "20261128-1425"  # a run name, looked up in the runs folder
    assert TrainConfig(data=SYNTHETIC).with_absolute_paths().data == SYNTHETIC


def test_the_json_round_trip_keeps_every_field_and_records_the_version(tmp_path):
    config = PRESETS["small-data"].replace(data=str(tmp_path), name="x")
    save_config(config, tmp_path / "config.json", runtime={"device": "cpu"})
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["runtime"] == {"device": "cpu"} and "seglab_version" in written
    assert load_config(tmp_path / "config.json") == config


def test_a_config_file_with_an_unknown_key_names_it(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({**TrainConfig().to_dict(), "momentum": 0.9}))
    with pytest.raises(ConfigError, match="unknown key\\(s\\) momentum"):
        load_config(tmp_path / "config.json")


def test_the_paper_preset_is_exactly_the_original_experiment():
    paper = PRESETS["paper"]
    assert (paper.model, paper.image_size, paper.width, paper.batch_size, paper.lr, paper.weight_decay) == (
        "unet", 256, 64, 16, 5e-4, 0.01)
    assert (paper.loss, paper.augment, paper.scheduler, paper.warmup_epochs, paper.ema, paper.patience) == (
        "bce", "flip", "none", 0, 0.0, 0)
    assert (paper.val_fraction, paper.init_from, paper.encoder_weights, paper.preset) == (0.1, "", "", "paper")


def test_the_small_data_and_demo_presets_expand_to_their_documented_settings():
    small = PRESETS["small-data"]
    assert (small.model, small.width, small.image_size, small.epochs, small.batch_size, small.lr) == (
        "unet", 32, 128, 170, 16, 1e-3)
    assert (small.loss, small.augment, small.scheduler, small.warmup_epochs, small.ema, small.preset) == (
        "bce+dice", "standard", "cosine", 3, 0.99, "small-data")
    demo = PRESETS["demo"]
    assert (demo.model, demo.width, demo.image_size, demo.epochs, demo.data) == ("unet", 8, 64, 6, "synthetic")
