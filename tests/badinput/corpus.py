"""Builders for the bad-input corpus. Each case writes its files under a folder and returns the
`seglab` arguments that meet them; nothing binary is committed."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

TINY = ["--epochs", "1", "--batch-size", "4", "--image-size", "32", "--width", "8", "--device", "cpu",
        "--workers", "0"]


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path, Path], list[str]]  # (folder to write in, a trained tiny run) -> argv
    ok: bool = False  # valid input that must simply work
    mentions: str = ""  # what the one error line must name (a file, a field)


def picture(size=(32, 32), seed=0, mode="RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB").convert(mode) if mode != "RGB" else Image.fromarray(pixels, "RGB")


def mask(size=(32, 32), values=(0, 255)) -> Image.Image:
    array = np.full((size[1], size[0]), values[0], dtype=np.uint8)
    array[size[1] // 4 : size[1] // 2, size[0] // 4 : size[0] // 2] = values[1]
    return Image.fromarray(array, "L")


def folder_dataset(root: Path, count: int = 12) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(count):
        picture(seed=i).save(root / "images" / f"img{i:02d}.png")
        mask().save(root / "masks" / f"img{i:02d}.png")
    return root


def oxford_dataset(root: Path, names=("cat_1", "cat_2", "dog_1", "dog_2"), test=("cat_3", "dog_3")) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for i, name in enumerate((*names, *test)):
        picture(seed=i).save(root / "images" / f"{name}.jpg")
        mask(values=(2, 1)).save(root / "annotations" / "trimaps" / f"{name}.png")
    (root / "annotations" / "trainval.txt").write_text("".join(f"{n} 1 1 1\n" for n in names))
    (root / "annotations" / "test.txt").write_text("".join(f"{n} 1 1 1\n" for n in test))
    return root


def train_on(root: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(root), *TINY, *extra]


# --- data -------------------------------------------------------------------------------------------


def truncated_jpeg(tmp: Path, _run: Path) -> list[str]:
    root = folder_dataset(tmp / "data")
    picture((64, 64)).save(root / "images" / "img00.jpg", quality=95)
    (root / "images" / "img00.png").unlink()
    data = (root / "images" / "img00.jpg").read_bytes()
    (root / "images" / "img00.jpg").write_bytes(data[: len(data) // 3])
    shutil.copy(root / "masks" / "img01.png", root / "masks" / "img00.png")
    return train_on(root)


def zero_byte_image(tmp: Path, _run: Path) -> list[str]:
    root = folder_dataset(tmp / "data")
    (root / "images" / "img03.png").write_bytes(b"")
    return train_on(root)


def size_mismatch(tmp: Path, _run: Path) -> list[str]:
    root = folder_dataset(tmp / "data")
    mask((40, 32)).save(root / "masks" / "img05.png")
    return train_on(root)


def trimap_values_0_7(tmp: Path, _run: Path) -> list[str]:
    root = oxford_dataset(tmp / "data")
    mask(values=(0, 7)).save(root / "annotations" / "trimaps" / "cat_1.png")
    return train_on(root)


def trimap_in_colour(tmp: Path, _run: Path) -> list[str]:
    root = oxford_dataset(tmp / "data")
    picture(seed=9).save(root / "annotations" / "trimaps" / "dog_1.png")  # an RGB photo where a trimap belongs
    return train_on(root)


def image_mode(mode: str) -> Callable[[Path, Path], list[str]]:
    def build(tmp: Path, _run: Path) -> list[str]:
        root = folder_dataset(tmp / "data")
        for i in range(12):
            path = root / "images" / f"img{i:02d}.png"
            if mode == "CMYK":
                path.unlink()
                picture(seed=i, mode="CMYK").save(root / "images" / f"img{i:02d}.jpg")
            elif mode == "I;16":
                wide = (np.asarray(picture(seed=i).convert("L"), dtype=np.uint16) * 257)
                Image.fromarray(wide).save(path)
            else:
                picture(seed=i, mode=mode).save(path)
        return train_on(root)

    return build


def listed_name_without_image(tmp: Path, _run: Path) -> list[str]:
    root = oxford_dataset(tmp / "data")
    (root / "images" / "dog_2.jpg").unlink()
    return train_on(root)


def duplicate_names(tmp: Path, _run: Path) -> list[str]:
    root = folder_dataset(tmp / "data")
    picture().save(root / "images" / "img04.jpg")
    return train_on(root)


def empty_dataset(tmp: Path, _run: Path) -> list[str]:
    root = tmp / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    return train_on(root)


def one_image_cannot_be_split(tmp: Path, _run: Path) -> list[str]:
    return train_on(folder_dataset(tmp / "data", count=1))


def batch_larger_than_dataset(tmp: Path, _run: Path) -> list[str]:
    return ["train", "--data", str(folder_dataset(tmp / "data")), *TINY, "--batch-size", "64"]


def unicode_and_spaces_in_path(tmp: Path, _run: Path) -> list[str]:
    return train_on(folder_dataset(tmp / "my dätä set ✓"))


def image_without_mask(tmp: Path, _run: Path) -> list[str]:
    root = folder_dataset(tmp / "data")
    (root / "masks" / "img07.png").unlink()
    return train_on(root)


def missing_trimaps_folder(tmp: Path, _run: Path) -> list[str]:
    root = oxford_dataset(tmp / "data")
    shutil.rmtree(root / "annotations" / "trimaps")
    (root / "masks").mkdir()  # neither layout complete
    return train_on(root)


def unknown_split(tmp: Path, run: Path) -> list[str]:
    return ["evaluate", str(run), "--split", "banana"]


def oversized_image(tmp: Path, _run: Path) -> list[str]:
    root = folder_dataset(tmp / "data")
    Image.new("1", (12000, 12000)).save(root / "images" / "img02.png")  # 144 Mpx: over Pillow's bomb limit
    return train_on(root)


def missing_data_folder(tmp: Path, _run: Path) -> list[str]:
    return train_on(tmp / "nowhere")


# --- config -----------------------------------------------------------------------------------------


def prepared_run(tmp: Path, values: dict | str) -> list[str]:
    run_dir = tmp / "runs" / "prepared"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(values if isinstance(values, str) else json.dumps(values))
    return ["train", "--runs-dir", str(tmp / "runs"), "--run-dir", str(run_dir)]


def config_unknown_key(tmp: Path, _run: Path) -> list[str]:
    return prepared_run(tmp, {"model": "unet", "learning_rate": 0.1})


def config_wrong_type(tmp: Path, _run: Path) -> list[str]:
    return prepared_run(tmp, {"model": "unet", "epochs": "ten"})


def config_not_json(tmp: Path, _run: Path) -> list[str]:
    return prepared_run(tmp, "{model: unet,")


def option(*argv: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, _run: ["train", *argv]


# --- checkpoints ------------------------------------------------------------------------------------


def run_with_checkpoint(tmp: Path, run: Path, write: Callable[[Path], None]) -> list[str]:
    copy = tmp / "runs" / run.name
    shutil.copytree(run, copy)
    write(copy / "checkpoints" / "best.pt")
    return ["evaluate", str(copy), "--runs-dir", str(tmp / "runs")]


def truncated_checkpoint(tmp: Path, run: Path) -> list[str]:
    def cut(path: Path) -> None:
        path.write_bytes(path.read_bytes()[:5000])

    return run_with_checkpoint(tmp, run, cut)


def text_as_checkpoint(tmp: Path, run: Path) -> list[str]:
    return run_with_checkpoint(tmp, run, lambda path: path.write_text("hello, I am not a checkpoint\n"))


class Payload:
    """Unpickling this writes a marker file: the test checks it never appears."""

    marker = ""

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


def code_running_checkpoint(tmp: Path, run: Path) -> list[str]:
    Payload.marker = str(tmp / "PWNED")

    def craft(path: Path) -> None:
        import torch

        torch.save({"model": Payload(), "epoch": 1, "config": {}}, path)

    return run_with_checkpoint(tmp, run, craft)


def checkpoint_of_another_width(tmp: Path, run: Path) -> list[str]:
    def widen(path: Path) -> None:
        import torch

        from core.models import build_model

        payload = torch.load(path, weights_only=True)
        payload["model"] = build_model("unet", width=16).state_dict()
        torch.save(payload, path)

    return run_with_checkpoint(tmp, run, widen)


def checkpoint_missing_keys(tmp: Path, run: Path) -> list[str]:
    def strip(path: Path) -> None:
        import torch

        torch.save({"weights": torch.zeros(3)}, path)

    return run_with_checkpoint(tmp, run, strip)


def pickle_instead_of_torch_file(tmp: Path, run: Path) -> list[str]:
    return run_with_checkpoint(tmp, run, lambda path: path.write_bytes(pickle.dumps({"model": 1})))


# --- paths ------------------------------------------------------------------------------------------


def prediction_name_escaping(tmp: Path, run: Path) -> list[str]:
    return ["predict", str(run), "--name", "../../escape"]


def run_dir_outside_runs_folder(tmp: Path, _run: Path) -> list[str]:
    return ["train", "--runs-dir", str(tmp / "runs"), "--run-dir", str(tmp / "elsewhere"), *TINY[:4]]


def symlinked_prediction_folder(tmp: Path, run: Path) -> list[str]:
    copy = tmp / "runs" / run.name
    shutil.copytree(run, copy)
    (copy / "predictions").mkdir(exist_ok=True)
    (tmp / "outside").mkdir()
    (copy / "predictions" / "test").symlink_to(tmp / "outside")
    return ["predict", str(copy), "--runs-dir", str(tmp / "runs")]


def missing_prediction_input(tmp: Path, run: Path) -> list[str]:
    return ["predict", str(run), "--input", str(tmp / "no-such-photo.jpg")]


def folder_without_images(tmp: Path, run: Path) -> list[str]:
    (tmp / "empty").mkdir()
    (tmp / "empty" / "notes.txt").write_text("no pictures here")
    return ["predict", str(run), "--input", str(tmp / "empty")]


def runs_folder_is_a_file(tmp: Path, _run: Path) -> list[str]:
    (tmp / "runs-file").write_text("not a folder")
    return ["train", "--runs-dir", str(tmp / "runs-file" / "sub"), "--data", "synthetic", *TINY]


CASES = [
    Case("truncated JPEG", truncated_jpeg, mentions="img00.jpg"),
    Case("zero-byte image", zero_byte_image, mentions="img03.png"),
    Case("image and mask of different sizes", size_mismatch, mentions="img05.png"),
    Case("trimap values {0, 7}", trimap_values_0_7, mentions="cat_1.png"),
    Case("colour photo as a trimap (wrong mode)", trimap_in_colour, mentions="dog_1.png"),
    Case("grayscale images", image_mode("L"), ok=True),
    Case("CMYK JPEGs", image_mode("CMYK"), ok=True),
    Case("RGBA images", image_mode("RGBA"), ok=True),
    Case("16-bit images", image_mode("I;16"), ok=True),
    Case("listed name without its image", listed_name_without_image, mentions="dog_2"),
    Case("duplicate names", duplicate_names, mentions="img04"),
    Case("empty dataset", empty_dataset, mentions="no images"),
    Case("one image cannot make train and val", one_image_cannot_be_split, mentions="only 1 sample"),
    Case("batch larger than the dataset", batch_larger_than_dataset, ok=True),
    Case("unicode and spaces in the path", unicode_and_spaces_in_path, ok=True),
    Case("image without a mask", image_without_mask, mentions="img07"),
    Case("no trimaps folder", missing_trimaps_folder, mentions="has no mask"),
    Case("unknown split name", unknown_split, mentions="banana"),
    Case("image over the decompression-bomb limit", oversized_image, mentions="img02.png"),
    Case("data folder missing", missing_data_folder, mentions="nowhere"),
    Case("config.json with an unknown key", config_unknown_key, mentions="learning_rate"),
    Case("config.json with a wrong type", config_wrong_type, mentions="epochs"),
    Case("config.json that is not JSON", config_not_json, mentions="config.json"),
    Case("negative learning rate", option("--lr", "-1"), mentions="lr"),
    Case("zero batch size", option("--batch-size", "0"), mentions="batch_size"),
    Case("zero image size", option("--image-size", "0"), mentions="image_size"),
    Case("val fraction above 1", option("--val-fraction", "1.5"), mentions="val_fraction"),
    Case("unknown model", option("--model", "vgg"), mentions="resnet34_unet"),
    Case("unknown precision", option("--precision", "fp8"), mentions="precision"),
    Case("truncated checkpoint", truncated_checkpoint, mentions="best.pt"),
    Case("text file as a checkpoint", text_as_checkpoint, mentions="best.pt"),
    Case("checkpoint that runs code when unpickled", code_running_checkpoint, mentions="best.pt"),
    Case("checkpoint of another width", checkpoint_of_another_width, mentions="width 8"),
    Case("checkpoint without the expected keys", checkpoint_missing_keys, mentions="best.pt"),
    Case("plain pickle as a checkpoint", pickle_instead_of_torch_file, mentions="best.pt"),
    Case("prediction name with ..", prediction_name_escaping, mentions="prediction output name"),
    Case("--run-dir outside the runs folder", run_dir_outside_runs_folder, mentions="--run-dir"),
    Case("prediction folder symlinked out of the run", symlinked_prediction_folder, mentions="prediction output"),
    Case("missing image to predict", missing_prediction_input, mentions="no-such-photo.jpg"),
    Case("folder to predict without images", folder_without_images, mentions="empty"),
    Case("runs folder under a file", runs_folder_is_a_file, mentions="runs-file"),
]
