"""The labelling-tool loop through the CLI on the Oxford fixture's masks (3 classes): `data check` names an export,
COCO and CVAT exports of the same labels check and train alike, `train --data <export>` picks the task from the
export, and `predict --export` writes the predicted masks back in a tool's format with the run's class names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data import list_samples
from core.data.exports import read_export
from core.data.images import load_pair
from core.data.labels import OXFORD_CLASSES, Labels
from core.errors import ConfigError
from core.inference.writers import LabelledImage, write_labels
from core.runs.folders import list_runs, runs_root
from tests.tui.helpers import OXFORD_TINY
from tests.tui.test_cli import seglab, the_error_line

TINY = ["--epochs", "1", "--image-size", "32", "--width", "8", "--workers", "0", "--precision", "fp32"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    """The fixture's photos with their trimaps as 3 classes, written as a COCO and as a CVAT mask export."""
    labels = Labels("multiclass", OXFORD_CLASSES)
    samples = list_samples(OXFORD_TINY, "trainval") + list_samples(OXFORD_TINY, "test")
    items = [LabelledImage(s.name, s.image, load_pair(s, labels)[1]) for s in samples]
    root = tmp_path_factory.mktemp("exports")
    for fmt in ("coco", "cvat"):
        write_labels(fmt, items, OXFORD_CLASSES, root / fmt)
    return root


def first_epoch(run_name_part: str) -> dict:
    (run,) = [run for run in list_runs(runs_root()) if run_name_part in run.name]
    events = [json.loads(line) for line in run.events_path.read_text().splitlines()]
    return next(event for event in events if event["type"] == "epoch")


def test_data_check_names_the_export_on_its_first_line(capsys, exports):
    code, out, err = seglab(capsys, "data", "check", str(exports / "cvat"))
    assert code == 0, err
    images = len(list_samples(OXFORD_TINY, "trainval")) + len(list_samples(OXFORD_TINY, "test"))
    assert out.splitlines()[0] == f"CVAT mask export: 2 classes (pet, border), {images} images, 100 % annotated"
    assert "ok: every pair opened" in out


def test_coco_and_cvat_exports_of_the_same_labels_check_and_train_alike(capsys, exports):
    tables = []
    for fmt in ("coco", "cvat"):
        code, out, err = seglab(capsys, "data", "check", str(exports / fmt))
        assert code == 0, err
        tables.append([line for line in out.splitlines() if line.startswith(("│", "┃")) and "pairs" not in line])
    assert tables[0] == tables[1]  # the same counts per split and pixels per class
    for fmt in ("coco", "cvat"):
        code, _, err = seglab(capsys, "train", "--data", str(exports / fmt), *TINY, "--name", f"same-{fmt}")
        assert code == 0, err
    coco, cvat = first_epoch("same-coco"), first_epoch("same-cvat")
    assert coco["train_loss"] == pytest.approx(cvat["train_loss"], abs=1e-6)
    assert coco["val_loss"] == pytest.approx(cvat["val_loss"], abs=1e-6)
    (run,) = [run for run in list_runs(runs_root()) if "same-coco" in run.name]
    config = run.load_config()
    assert (config.task, config.classes, config.loss) == ("multiclass", 3, "ce")  # from the export's 2 classes


def test_predict_export_writes_the_predicted_masks_in_the_tools_format(capsys, exports, tmp_path):
    code, _, err = seglab(capsys, "train", "--data", str(exports / "coco"), *TINY, "--name", "loop")
    assert code == 0, err
    out = tmp_path / "for-labelme"
    code, printed, err = seglab(capsys, "predict", "loop", "--split", "test", "--export", "labelme", "--out", str(out))
    assert code == 0, err
    (run,) = [run for run in list_runs(runs_root()) if "loop" in run.name]
    export = read_export(out)
    assert f"labelme: {export.images} images -> {out}" in printed
    assert export.class_names == OXFORD_CLASSES and export.images == len(list_samples(exports / "coco", "test"))
    labels = Labels("multiclass", export.class_names, export.ignore_index)
    for sample in export.samples:
        predicted = np.asarray(Image.open(run.predictions_dir / "test" / f"{sample.name}_mask.png"))
        read_back = load_pair(sample, labels)[1]
        assert np.array_equal(read_back, predicted)
        assert (out / sample.image.name).is_symlink() or (out / sample.image.name).is_file()


def test_predict_export_refuses_an_unknown_format_before_predicting(capsys, exports):
    code, _, err = seglab(capsys, "predict", "nothing", "--export", "pascal")
    assert code == 2 and "--export: 'pascal' is not one of coco, coco-polygons, voc, cvat, labelme, yolo" in err


def test_predict_export_under_a_file_is_refused_before_predicting(capsys, tmp_path):
    """`--out FILE/sub` predicted every image, then failed with an internal FileExistsError."""
    (tmp_path / "notes.txt").write_text("mine\n")
    out = tmp_path / "notes.txt" / "sub"
    code, _, err = seglab(capsys, "predict", "nothing", "--export", "coco", "--out", str(out))
    assert code == 2
    assert the_error_line(err) == (f"seglab: error: --out {out}: cannot be made: "
                                   f"{tmp_path / 'notes.txt'} is a file, not a folder")


def test_predict_export_into_a_folder_that_exists_is_refused_before_predicting(capsys, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    code, _, err = seglab(capsys, "predict", "nothing", "--export", "coco", "--out", str(taken))
    assert code == 2  # before the run is even looked up: no prediction is made only to be refused
    assert f"--out {taken}: already exists; give a new folder to write into" in err


def test_class_names_labelmap_txt_cannot_hold_are_refused_before_predicting(capsys, tmp_path):
    """A class named 'cat:dog' or '#2' was written into labelmap.txt as is: the export then failed to read back
    (':' separates its fields, '#' starts a comment)."""
    labels = Labels("multiclass", OXFORD_CLASSES)
    samples = list_samples(OXFORD_TINY, "trainval") + list_samples(OXFORD_TINY, "test")
    items = [LabelledImage(s.name, s.image, load_pair(s, labels)[1]) for s in samples]
    write_labels("coco", items, ("background", "cat:dog", "#2 border"), tmp_path / "coco")
    code, _, err = seglab(capsys, "train", "--data", str(tmp_path / "coco"), *TINY, "--name", "odd-names")
    assert code == 0, err
    (run,) = list_runs(runs_root())
    for fmt in ("voc", "cvat"):
        code, _, err = seglab(capsys, "predict", "odd-names", "--split", "val", "--export", fmt)
        assert code == 2
        assert the_error_line(err).startswith(f"seglab: error: class name 'cat:dog' cannot be written to {fmt}'s "
                                              "labelmap.txt")
        assert not run.predictions_dir.exists()  # refused before any image was predicted
    with pytest.raises(ConfigError, match="class name '#2 border' cannot be written to voc's labelmap.txt"):
        write_labels("voc", items, ("background", "pet", "#2 border"), tmp_path / "voc")
    assert not (tmp_path / "voc").exists()
    code, _, err = seglab(capsys, "predict", "odd-names", "--split", "val", "--export", "coco")
    assert code == 0, err  # COCO's JSON holds any name


def test_starting_from_weights_of_classes_in_another_order_warns(capsys, exports, tmp_path):
    """--init-from a run of (pet, border) on data naming (border, pet) started each class from the other's weights,
    silently."""
    import shutil

    code, _, err = seglab(capsys, "train", "--data", str(exports / "cvat"), *TINY, "--name", "first")
    assert code == 0, err
    code, _, err = seglab(capsys, "train", "--data", str(exports / "cvat"), *TINY, "--init-from", "first")
    assert code == 0 and "warning: init_from" not in err, err  # the same classes: nothing to say
    swapped = tmp_path / "swapped"
    shutil.copytree(exports / "cvat", swapped)
    lines = (swapped / "labelmap.txt").read_text().splitlines()
    (swapped / "labelmap.txt").write_text("\n".join([*lines[:2], lines[3], lines[2]]) + "\n")  # border first
    code, _, err = seglab(capsys, "train", "--data", str(swapped), *TINY, "--init-from", "first")
    assert code == 0, err
    (first,) = [run for run in list_runs(runs_root()) if run.name.endswith("-first")]
    assert (f"seglab: warning: init_from: {first.checkpoint_path('best')} was trained on classes background, pet, "
            "border; this data names them in another order (background, border, pet)") in " ".join(err.split())
