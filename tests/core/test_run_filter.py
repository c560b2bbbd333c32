"""The runs list's filter language (core/runs/filtering.py): free words, text terms and number terms."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.runs.filtering import RunFilter

UNET = {"name": "20261201-1200-unet-pets", "model": "unet", "data": "oxford-pet", "state": "finished", "dice": 0.91,
        "epoch": 20, "epochs": 20}
RESNET = {"name": "20261201-1300-resnet34_unet-pets", "model": "resnet34_unet", "data": "oxford-pet",
          "state": "failed", "dice": None, "epoch": 3, "epochs": 20}


@pytest.mark.parametrize(("text", "kept"), [
    ("", ["unet", "resnet34_unet"]),
    ("model=unet", ["unet"]),  # exact, not a substring of resnet34_unet
    ("MODEL=UNET", ["unet"]),
    ("unet", ["unet", "resnet34_unet"]),  # a free word is a substring of name, model or data
    ("resnet pets", ["resnet34_unet"]),
    ("state!=failed", ["unet"]),
    ("dice>0.9", ["unet"]),
    ("dice<0.9", []),  # a run without a score matches no number term
    ("epoch>=3 epochs=20", ["unet", "resnet34_unet"]),
    ("epoch>3 oxford", ["unet"]),
    ("dice>=0.9118", []),
    ("name=pets", ["unet", "resnet34_unet"]),  # the --name a run was given, as commands take it
    ("name=20261201-1200-unet-pets", ["unet"]),
    ("name!=pets", []),
    ("name=pet", []),
    ("name=1200-unet-pets", []),  # a name is the part after the model, whole
])
def test_the_filter_keeps_the_runs_every_word_and_term_holds_for(text, kept):
    keep = RunFilter.parse(text)
    assert [run["model"] for run in (UNET, RESNET) if keep.matches(run)] == kept


def test_a_name_is_the_whole_part_after_the_model():
    """name=pets also kept a run named my-pets (and `seglab evaluate pets` could pick it)."""
    mine = {**UNET, "name": "20261201-1400-unet-my-pets"}
    again = {**UNET, "name": "20261201-1400-unet-pets-2"}
    keep = RunFilter.parse("name=pets")
    assert not keep.matches(mine) and keep.matches(again) and RunFilter.parse("name=my-pets").matches(mine)


def test_dice_compares_as_the_table_shows_it():
    """0.38178 shows as 0.3818; `dice>=0.3818` copied from the table matched nothing."""
    shown = {**UNET, "dice": 0.38178}
    assert RunFilter.parse("dice>=0.3818").matches(shown) and RunFilter.parse("dice=0.3818").matches(shown)
    assert not RunFilter.parse("dice>0.3818").matches(shown) and RunFilter.parse("dice>0.38").matches(shown)
    assert RunFilter.parse("dice<0.38179").matches(shown)  # an exact bound stays exact


@pytest.mark.parametrize(("text", "message"), [
    ("colour=red", "filter: 'colour=red': unknown field 'colour'; known fields: name, model, data, state, dice, "
                   "epoch, epochs"),
    ("dice>high", "filter: 'dice>high': dice needs a number, e.g. dice>0.9"),
    ("dice>nan", "filter: 'dice>nan': dice needs a number, e.g. dice>0.9"),
    ("model==unet", "filter: 'model==unet': one operator, e.g. model=unet"),
    ("dice=>0.9", "filter: 'dice=>0.9': one operator, e.g. dice>=0.9"),
    ("model>unet", "filter: 'model>unet': model takes = or != (e.g. model=...)"),
    ("state=runing", "filter: 'state=runing': 'runing' is not a state; states: created, running, finished, stopped, "
                     "failed, pruned, stalled, interrupted"),
])
def test_a_bad_term_is_one_line_naming_it(text, message):
    with pytest.raises(ConfigError) as caught:
        RunFilter.parse(text)
    assert str(caught.value) == message

