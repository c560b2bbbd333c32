"""Config files: every field written as YAML reads back to the same config; YAML's own readings (5e-4 as text,
1 for a float) take the field's type; bad files are one line naming the file and key."""

from __future__ import annotations

import json

import pytest

from core.config import PRESETS, TrainConfig
from core.config_files import read_config_file, write_config_file
from core.errors import ConfigError


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_written_config_reads_back_to_the_same_settings(tmp_path, preset, suffix):
    config = PRESETS[preset].replace(name="a #name: with: yaml's characters", class_weights="")
    path = write_config_file(config, tmp_path / f"settings{suffix}", header="made by a test")
    assert TrainConfig(**read_config_file(path)) == config


def test_yaml_spellings_take_the_fields_types(tmp_path):
    path = tmp_path / "pets.yml"
    path.write_text("lr: 5e-4\nweight-decay: 1\nepochs: 12.0\nname: 2026\nclass_weights:\nskip_bad: yes\n")
    assert read_config_file(path) == {"lr": 5e-4, "weight_decay": 1.0, "epochs": 12, "name": "2026",
                                      "class_weights": "", "skip_bad": True}


@pytest.mark.parametrize(("text", "message"), [
    ("lr: 1e-3\nlearning_rate: 1\n", "pets.yaml: unknown train option 'learning_rate'"),
    ("epochs: 2.5\n", "pets.yaml: epochs: expected int, got 2.5"),
    ("lr: fast\n", "pets.yaml: lr: expected float, got 'fast'"),
    ("augment: [flip]\n", "pets.yaml: augment: expected str, got ['flip']"),
    ("- lr\n", "pets.yaml: expected a mapping of train options, got list"),
    ("lr: [1\n", "pets.yaml: not valid YAML (line 2: expected ',' or ']'"),
    # values of the right type out of bounds or choices: the file named too (it was 'epochs: must be...' alone)
    ("epochs: 0\n", "pets.yaml: epochs: must be a whole number from 1 to 1,000,000, got 0"),
    ("loss: focal\n", "pets.yaml: loss: 'focal' is not one of bce, dice, bce+dice, ce, ce+dice"),
])
def test_a_bad_file_is_one_line_naming_it_and_the_key(tmp_path, text, message):
    path = tmp_path / "pets.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        read_config_file(path)
    assert str(raised.value).startswith(f"{tmp_path}/{message}")


def test_json_and_missing_files(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"lr": 0.002, "image-size": 96}))
    assert read_config_file(tmp_path / "a.json") == {"lr": 0.002, "image_size": 96}
    with pytest.raises(ConfigError, match="b.yaml: no such config file"):
        read_config_file(tmp_path / "b.yaml")
    with pytest.raises(ConfigError, match=r"c.toml: a config file is .yaml, .yml or .json"):
        read_config_file(tmp_path / "c.toml")
