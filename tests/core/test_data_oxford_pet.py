"""Oxford-IIIT Pet loader on 12 real pairs: official splits, a seeded 9:1 train/val, exact masks, clear errors."""

from __future__ import annotations

import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest

import core.data.oxford_pet as oxford_pet
from core.data import detect_layout, list_samples
from core.data.images import load_pair
from core.data.oxford_pet import download_oxford_pet, is_oxford_pet, oxford_pet_samples
from core.data.splits import split_train_val
from core.errors import ConfigError, DataError

FIXTURES = Path(__file__).parents[1] / "fixtures"
TINY = FIXTURES / "oxford-pet-tiny"
QUIRKS = FIXTURES / "oxford-pet-quirks"
TRAINVAL = {
    "Abyssinian_192", "Abyssinian_193", "Abyssinian_195", "Bengal_135",
    "Bengal_150", "Bengal_153", "american_bulldog_150", "american_bulldog_175",
}  # fmt: skip
TEST = {"Abyssinian_56", "Abyssinian_210", "Bengal_198", "american_bulldog_2"}


def names(samples) -> list[str]:
    return [sample.name for sample in samples]


@pytest.fixture
def tiny_copy(tmp_path) -> Path:
    """A writable copy of the tiny fixture, for tests that break it."""
    return Path(shutil.copytree(TINY, tmp_path / "pets"))


def test_tiny_fixture_is_recognised_as_oxford_pet():
    assert is_oxford_pet(TINY)
    assert detect_layout(TINY) == "oxford-pet"


def test_official_lists_give_the_trainval_and_test_names():
    assert set(names(oxford_pet_samples(TINY, "trainval"))) == TRAINVAL
    assert set(names(list_samples(TINY, "test"))) == TEST
    assert names(list_samples(TINY, "all")) == names(oxford_pet_samples(TINY, "trainval")) + names(
        list_samples(TINY, "test"))  # `evaluate/predict --split all`, as on every other layout


def test_train_and_val_split_trainval_nine_to_one_disjoint_and_complete():
    train = names(oxford_pet_samples(TINY, "train", val_fraction=0.1, seed=0))
    val = names(oxford_pet_samples(TINY, "val", val_fraction=0.1, seed=0))
    assert (len(train), len(val)) == (7, 1)  # round(0.8) = 1 held out
    assert not set(train) & set(val)
    assert set(train) | set(val) == TRAINVAL
    wider_val = names(oxford_pet_samples(TINY, "val", val_fraction=0.25, seed=0))
    assert len(wider_val) == 2


def test_same_seed_gives_the_same_split_and_another_seed_another():
    first = names(oxford_pet_samples(TINY, "val", val_fraction=0.5, seed=3))
    again = names(oxford_pet_samples(TINY, "val", val_fraction=0.5, seed=3))
    other = names(oxford_pet_samples(TINY, "val", val_fraction=0.5, seed=4))
    assert first == again
    assert first != other


def test_split_does_not_depend_on_the_order_names_arrive_in():
    listed = sorted(TRAINVAL)
    assert split_train_val(listed, 0.25, 7) == split_train_val(listed[::-1], 0.25, 7)


def test_known_image_mask_is_pet_plus_border_of_its_trimap():
    sample = next(s for s in oxford_pet_samples(TINY, "trainval") if s.name == "Abyssinian_192")
    image, mask = load_pair(sample)
    assert image.mode == "RGB" and image.size == (300, 176)
    assert mask.shape == (176, 300)
    assert set(np.unique(mask).tolist()) == {0, 1}
    assert int(mask.sum()) == 18403  # 12665 pet (1) + 5738 border (3); 34397 background (2)
    assert mask[0, 0] == 0  # trimap 2
    assert mask[3, 206] == 0  # trimap 2, just left of the first border pixel
    assert mask[3, 207] == 1  # trimap 3: border counts as pet
    assert mask[88, 142] == 1  # trimap 3
    assert mask[88, 143] == 1  # trimap 1


def test_quirks_list_loads_and_the_gif_has_an_empty_mask():
    (gif_sample,) = oxford_pet_samples(QUIRKS, "test")
    image, mask = load_pair(gif_sample)
    assert gif_sample.name == "Abyssinian_34"
    assert (image.mode, image.size) == ("RGB", (250, 202))
    assert mask.shape == (202, 250) and mask.sum() == 0
    (png_sample,) = oxford_pet_samples(QUIRKS, "trainval")
    image, mask = load_pair(png_sample)
    assert (image.mode, image.size) == ("RGB", (200, 150))
    assert 0 < mask.sum() < mask.size


def test_comment_and_blank_lines_in_a_list_are_skipped(tiny_copy):
    list_path = tiny_copy / "annotations" / "test.txt"
    list_path.write_text("#Image CLASS-ID SPECIES BREED ID\n\n" + list_path.read_text())
    assert set(names(oxford_pet_samples(tiny_copy, "test"))) == TEST


def test_missing_dataset_folder_is_named(tmp_path):
    with pytest.raises(DataError) as error:
        oxford_pet_samples(tmp_path / "nowhere", "train")
    assert str(tmp_path / "nowhere") in str(error.value) and "no such folder" in str(error.value)


def test_missing_list_file_is_named(tiny_copy):
    (tiny_copy / "annotations" / "test.txt").unlink()
    with pytest.raises(DataError) as error:
        oxford_pet_samples(tiny_copy, "test")
    assert str(tiny_copy / "annotations" / "test.txt") in str(error.value)
    assert "no such file" in str(error.value)


def test_missing_trimaps_folder_is_named(tiny_copy):
    shutil.rmtree(tiny_copy / "annotations" / "trimaps")
    with pytest.raises(DataError) as error:
        oxford_pet_samples(tiny_copy, "trainval")
    assert str(tiny_copy / "annotations" / "trimaps") in str(error.value)


def test_listed_name_without_image_names_the_missing_image(tiny_copy):
    (tiny_copy / "images" / "Bengal_150.jpg").unlink()
    with pytest.raises(DataError) as error:
        oxford_pet_samples(tiny_copy, "train")
    assert str(tiny_copy / "images" / "Bengal_150.jpg") in str(error.value)
    assert "listed in trainval.txt but missing" in str(error.value)


def test_listed_name_without_trimap_names_the_missing_trimap(tiny_copy):
    (tiny_copy / "annotations" / "trimaps" / "Bengal_198.png").unlink()
    with pytest.raises(DataError) as error:
        oxford_pet_samples(tiny_copy, "test")
    assert str(tiny_copy / "annotations" / "trimaps" / "Bengal_198.png") in str(error.value)


def test_unknown_split_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="train, val, test, trainval"):
        oxford_pet_samples(TINY, "validation")


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_val_fraction_outside_zero_to_one_is_a_config_error(fraction):
    with pytest.raises(ConfigError, match="val_fraction"):
        split_train_val(["a", "b", "c"], fraction, 0)


def test_split_keeps_both_parts_non_empty_and_zero_fraction_keeps_all_for_training():
    assert split_train_val(["a", "b"], 0.01, 0)[1] != []
    assert split_train_val(["a", "b"], 0.9, 0)[0] != []
    assert split_train_val(["a", "b", "c"], 0.0, 0) == (["a", "b", "c"], [])


def test_single_sample_cannot_be_split_and_the_error_names_folder_and_fraction(tmp_path):
    with pytest.raises(DataError) as error:
        split_train_val(["only"], 0.1, 0, source=tmp_path)
    assert str(tmp_path) in str(error.value) and "0.1" in str(error.value)


def test_download_failure_is_one_line_naming_the_reason(tmp_path, monkeypatch):
    def refuse(root, **kwargs):
        (Path(root) / "oxford-iiit-pet").mkdir()  # as torchvision makes its folder before it downloads
        raise urllib.error.URLError("Name or service not known")

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "OxfordIIITPet", refuse)
    with pytest.raises(DataError) as error:
        download_oxford_pet(tmp_path)
    message = str(error.value)
    assert "cannot download Oxford-IIIT Pet: " in message and "Name or service not known" in message
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []  # no empty dataset folder left to be taken for a broken one


def test_download_returns_the_folder_torchvision_unpacks_into(tmp_path, monkeypatch):
    def pretend_download(root, **kwargs):
        shutil.copytree(TINY, Path(root) / oxford_pet.TORCHVISION_FOLDER)

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "OxfordIIITPet", pretend_download)
    assert download_oxford_pet(tmp_path) == tmp_path / "oxford-iiit-pet"
