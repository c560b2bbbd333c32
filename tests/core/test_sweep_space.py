"""A sweep's SPECs, checked against the train options' field specs before anything starts: ranges, log ranges,
whole-number ranges and value lists of the right types, inside the fields' bounds and choices; every bad SPEC is
one line naming it."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.sweeps.space import Dimension, parse_space, read_space_file


def test_ranges_log_ranges_and_value_lists_become_dimensions():
    dimensions = parse_space(["lr=log:1e-4..3e-3", "width=16,32", "model=unet,resnet18_unet", "ema=0,0.99",
                              "epochs=int:5..20", "weight_decay=0..0.1", "compile=off,on"])
    assert dimensions == [
        Dimension("lr", low=1e-4, high=3e-3, log=True),
        Dimension("width", choices=(16, 32)),
        Dimension("model", choices=("unet", "resnet18_unet")),
        Dimension("ema", choices=(0.0, 0.99)),
        Dimension("epochs", low=5, high=20, integer=True),
        Dimension("weight_decay", low=0.0, high=0.1),
        Dimension("compile", choices=(False, True)),
    ]
    assert dimensions[0].describe() == "lr=log:0.0001..0.003"


@pytest.mark.parametrize(("spec", "message"), [
    ("learning_rate=log:1e-4..1e-3", "--search 'learning_rate=log:1e-4..1e-3': learning_rate is not a train option"),
    ("lr=log:0..1e-3", "--search 'lr=log:0..1e-3': lr: must be a positive number, got 0.0"),
    ("lr=1e-3..1e-4", "--search 'lr=1e-3..1e-4': the range must go from low to high, got 0.001..0.0001"),
    ("width=16,abc", "--search 'width=16,abc': 'abc' is not a whole number for width"),
    ("width=0,16", "--search 'width=0,16': width: must be a whole number from 1 to 1,024, got 0"),
    ("model=unet,segformer", "--search 'model=unet,segformer': 'segformer' is not one of unet, resnet18_unet"),
    ("model=unet..resnet18_unet", "--search 'model=unet..resnet18_unet': model takes str values, not a range"),
    ("ema=0,1", "--search 'ema=0,1': ema: a decay between 0 and 1 (exclusive), or 0 for off, got 1.0"),
    ("data=a,b", "--search 'data=a,b': data is not searched; give it as a train option of the sweep"),
    ("lr", "--search 'lr': expected OPTION=VALUES"),
    ("width=16,16", "--search 'width=16,16': a value is given twice"),
])
def test_a_bad_spec_is_one_line_naming_it(spec, message):
    with pytest.raises(ConfigError) as caught:
        parse_space([spec])
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_several_bad_specs_are_one_line_each():
    with pytest.raises(ConfigError) as caught:
        parse_space(["lr=log:1e-4..1e-3", "nope=1,2", "width=x"])
    lines = str(caught.value).splitlines()
    assert len(lines) == 2 and "nope" in lines[0] and "'x'" in lines[1]


def test_a_space_file_maps_options_to_ranges_and_lists(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("lr: log:1e-4..3e-3\nwidth: [16, 32]\naugment: [flip, standard]\n")
    assert [d.describe() for d in parse_space(read_space_file(path))] == [
        "lr=log:0.0001..0.003", "width=16,32", "augment=flip,standard"]
