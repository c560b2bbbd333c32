"""The new-run form through Pilot: field and data-folder checks, presets, processes, and starting a training child."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select

import core.training.launch
from core.config import TrainConfig
from core.runs.folders import Run, runs_root
from core.training.estimate import DurationEstimate
from tui.app import SeglabApp, make_app
from tui.screens.dashboard import LiveRunScreen
from tui.screens.new_run import NewRunScreen
from tui.widgets.epoch_table import EpochTable
from tui.widgets.run_header import RunHeader

from .helpers import SIZE, click_in_view, shown, wait_for, wait_for_screen

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def harmless_training(monkeypatch) -> None:
    """For tests that must not start training: should the app launch a child anyway, it only sleeps."""
    monkeypatch.setattr(core.training.launch, "training_command",
                        lambda run, root, processes=1, resume=False: ["sleep", "30"])


async def open_form(app, pilot: Pilot) -> NewRunScreen:
    await pilot.press("n")
    return await wait_for_screen(pilot, NewRunScreen)


@pytest.mark.parametrize("typed", ["-1", "abc"])
async def test_an_invalid_learning_rate_is_named_and_starts_nothing(harmless_training, typed):
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        lr = form.query_one("#field-lr", Input)
        lr.focus()
        await pilot.press("end", "ctrl+u", *typed)  # clear the default, type the bad value
        assert lr.value == typed
        assert lr.has_class("-invalid")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form and not app.children_started
        assert "learning rate" in shown(form.query_one("#form-errors"))
        assert not runs_root().exists() or not any(runs_root().iterdir()), list(runs_root().iterdir())


async def choose_folder_data(pilot: Pilot, form: NewRunScreen, path: str) -> None:
    form.query_one("#data-source", Select).value = "folder"
    form.query_one("#data-path", Input).value = path  # as if pasted
    await pilot.pause()


async def data_check_of(path: str, starts: str) -> str:
    """What the form's data check says about `path`, once it starts with `starts`."""
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        await choose_folder_data(pilot, form, path)
        note = form.query_one("#data-check")
        await wait_for(pilot, lambda: shown(note).startswith(starts), what="the data check")
        return shown(note)


async def test_a_data_folder_that_does_not_exist_is_marked_with_a_cross(tmp_path):
    assert "no-such-folder" in await data_check_of(str(tmp_path / "no-such-folder"), "✗")


async def test_starting_on_a_missing_data_folder_shows_the_clis_line_and_creates_nothing(
        harmless_training, capsys, tmp_path):
    from tests.tui.test_cli import seglab, the_error_line

    missing = str(tmp_path / "no-such-folder")
    code, _, err = seglab(capsys, "train", "--data", missing)
    cli_line = the_error_line(err).removeprefix("seglab: error: ")
    assert code == 2 and missing in cli_line

    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        await choose_folder_data(pilot, form, missing)
        await pilot.press("ctrl+s")
        errors = form.query_one("#form-errors")
        await wait_for(pilot, lambda: shown(errors).startswith("✗"), what="the refusal")
        assert shown(errors) == f"✗ {cli_line}"
        assert app.screen is form and not app.children_started
        assert not runs_root().exists() or not any(runs_root().iterdir()), list(runs_root().iterdir())


async def test_the_oxford_pet_fixture_is_recognised_with_its_split_counts():
    note = await data_check_of(str(FIXTURES / "oxford-pet-tiny"), "oxford-pet")
    assert note == "oxford-pet layout: 7 train · 1 val · 4 test"


async def test_the_data_check_shows_the_folder_now_entered_not_an_earlier_one(monkeypatch, tmp_path):
    import core.data

    real_list_samples = core.data.list_samples
    slow_check_started, slow_check_done = threading.Event(), threading.Event()

    def slow_list_samples(root, split, *args, **kwargs):
        samples = real_list_samples(root, split, *args, **kwargs)
        if Path(root).name == "oxford-pet-tiny" and split == "test":  # the check's last listing
            slow_check_started.set()
            time.sleep(0.5)  # a big dataset on a slow disk
            slow_check_done.set()
        return samples

    monkeypatch.setattr(core.data, "list_samples", slow_list_samples)
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        await choose_folder_data(pilot, form, str(FIXTURES / "oxford-pet-tiny"))
        await wait_for(pilot, slow_check_started.is_set, what="the check of the first folder")
        form.query_one("#data-path", Input).value = str(tmp_path / "typo")  # the user keeps typing
        note = form.query_one("#data-check")
        await wait_for(pilot, slow_check_done.is_set, what="the slow check")
        await wait_for(pilot, lambda: shown(note) != "checking...", what="a check result")
        await pilot.pause(0.3)
        assert shown(note).startswith("✗") and "typo" in shown(note)


async def test_the_demo_preset_fills_in_the_demo_settings():
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        preset = form.query_one("#preset", Select)
        preset.focus()
        await pilot.press("enter")  # open the list
        await pilot.press("down", "down", "down", "down", "enter")  # paper, small-data, pretrained, demo
        await wait_for(pilot, lambda: preset.value == "demo", what="the preset")
        await pilot.pause()
        values = {name: form.query_one(f"#field-{name}", Input).value
                  for name in ("width", "image_size", "epochs", "name")}
        assert values == {"width": "8", "image_size": "64", "epochs": "6", "name": "demo"}


async def test_a_run_started_from_the_form_trains_in_a_child_and_is_shown_live(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the child trains a width-8 net: one thread is fastest
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        typed = {"epochs": "2", "batch_size": "4", "image_size": "32", "width": "8", "synthetic_count": "24",
                 "synthetic_size": "32", "workers": "0", "name": "fromform"}
        for name, value in typed.items():
            form.query_one(f"#field-{name}", Input).value = value
        form.query_one("#field-device", Select).value = "cpu"
        await click_in_view(pilot, "#start")
        screen = await wait_for_screen(pilot, LiveRunScreen)
        (run_path,) = app.children_started
        assert run_path.name.endswith("-unet-fromform")
        table, header = screen.query_one(EpochTable), screen.query_one(RunHeader)
        await wait_for(pilot, lambda: table.row_count == 2 and header.state == "finished", timeout=120,
                       what=f"training to finish (see {run_path / 'train.log'})")
        assert "epoch 2/2" in shown(screen.query_one("#run-title"))
        assert (run_path / "checkpoints" / "best.pt").is_file()
        assert Run(run_path).load_config() == TrainConfig(  # each field went one to one into the run's config
            epochs=2, batch_size=4, image_size=32, width=8, synthetic_count=24, synthetic_size=32, device="cpu",
            workers=0, name="fromform")


async def test_the_form_offers_processes_and_sync_batchnorm_only_with_several_gpus(harmless_training):
    for gpus in (0, 1):
        app = make_app(runs_root(), gpus=gpus)
        async with app.run_test(size=SIZE) as pilot:
            form = await open_form(app, pilot)
            assert not form.query("#processes") and not form.query("#field-sync_bn")


async def test_processes_chosen_in_the_form_launch_torchrun_with_that_count(monkeypatch):
    launched = []
    monkeypatch.setattr(core.training.launch, "training_command",
                        lambda run, root, processes=1, resume=False: launched.append(processes) or ["sleep", "30"])
    app = make_app(runs_root(), gpus=4)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        form.query_one("#field-sync_bn", Select).value = True
        processes = form.query_one("#processes", Input)
        processes.value = "5"  # more than the GPUs: refused, naming the field
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "processes: 1 to 4, one per GPU" in shown(form.query_one("#form-errors"))
        processes.value = "3"  # the global batch of 16 does not split over 3
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "does not split evenly over 3 processes" in shown(form.query_one("#form-errors")),
                       what="the refusal")
        processes.value = "2"
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, LiveRunScreen)
        assert launched == [2]
        (run_path,) = app.children_started
        assert Run(run_path).load_config().sync_bn is True


async def test_a_negative_seed_is_refused_in_the_form(harmless_training):
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        seed = form.query_one("#field-seed", Input)
        seed.focus()
        await pilot.press("end", "ctrl+u", "-", "1")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form and not app.children_started
        assert "seed" in shown(form.query_one("#form-errors"))


async def test_a_training_child_that_dies_at_start_does_not_leave_the_run_looking_created(monkeypatch):
    monkeypatch.setattr(core.training.launch, "training_command",
                        lambda run, root, processes=1, resume=False: [sys.executable, "-c", "raise SystemExit(3)"])
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        await open_form(app, pilot)
        await pilot.press("ctrl+s")
        screen = await wait_for_screen(pilot, LiveRunScreen)
        (child,) = app.children_started.values()
        await wait_for(pilot, lambda: child.poll() is not None, what="the child to exit")
        header = screen.query_one(RunHeader)
        await wait_for(pilot, lambda: header.state != "created", what="the screen to notice")
        assert header.state in ("failed", "interrupted")


async def choose_task(pilot: Pilot, form: NewRunScreen, task: str) -> None:
    """Pick a task in the form's task list with the keyboard, as a user does."""
    select = form.query_one("#field-task", Select)
    select.scroll_visible(animate=False)
    select.focus()
    await pilot.press("enter")  # open the list
    await pilot.press("down" if task == "multiclass" else "up", "enter")  # binary, multiclass
    await wait_for(pilot, lambda: select.value == task, what=f"the task {task}")
    await pilot.pause()


def loss_choices(form: NewRunScreen) -> list[str]:
    """The losses the form's loss list offers."""
    overlay = form.query_one("#field-loss", Select).query_one(OptionList)  # the list it opens
    return [str(option.prompt) for option in overlay.options]


async def test_choosing_multiclass_offers_its_losses_and_gives_a_valid_multiclass_config(harmless_training):
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        assert loss_choices(form) == ["bce", "dice", "bce+dice"]
        assert form.query_one("#field-classes", Input).disabled  # binary: the multiclass fields stay at 0, "", -1
        await choose_task(pilot, form, "multiclass")
        assert form.query_one("#field-loss", Select).value == "ce"  # bce is no multiclass loss: the task's default
        assert loss_choices(form) == ["ce", "dice", "ce+dice"]
        classes = form.query_one("#field-classes", Input)
        assert not classes.disabled
        classes.value = "3"
        config = form.collect()
        assert (config.task, config.loss, config.classes, config.ignore_index) == ("multiclass", "ce", 3, -1)


async def test_going_back_to_binary_keeps_a_shared_loss_and_resets_the_multiclass_fields(harmless_training):
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        await choose_task(pilot, form, "multiclass")
        form.query_one("#field-loss", Select).value = "dice"  # a loss both tasks have
        typed = {"classes": "4", "class_weights": "auto", "ignore_index": "255"}
        for name, value in typed.items():
            form.query_one(f"#field-{name}", Input).value = value
        await choose_task(pilot, form, "binary")
        assert form.query_one("#field-loss", Select).value == "dice"
        assert {name: form.query_one(f"#field-{name}", Input).value for name in typed} == {
            "classes": "0", "class_weights": "", "ignore_index": "-1"}
        config = form.collect()  # core refuses multiclass fields on a binary run; the form never sends them
        assert (config.task, config.loss, config.classes, config.class_weights) == ("binary", "dice", 0, "")


async def test_the_form_shows_the_expected_duration_of_its_settings_and_of_a_time_budget(monkeypatch):
    asked: list[TrainConfig] = []

    def estimate(app, config: TrainConfig, cancelled=None) -> DurationEstimate:
        asked.append(config)
        return DurationEstimate(seconds=config.epochs * 80.0, epochs=config.epochs, epoch_s=80.0, prepare_s=0.0,
                                train_images=216, val_images=24, device="this CPU", source="probe",
                                time_budget_min=config.time_budget)

    monkeypatch.setattr(SeglabApp, "estimate_duration", estimate)
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        note = form.query_one("#estimate")
        form.query_one("#field-epochs", Input).value = "170"
        await wait_for(pilot, lambda: "3 h" in shown(note), what="the estimate of 170 epochs")
        assert shown(note) == ("expected: about 3 h 47 min on this CPU (170 epochs of about 80 s) · a time budget "
                               "(min) caps it")
        assert asked[-1].epochs == 170
        form.query_one("#field-time_budget", Input).value = "3"
        await wait_for(pilot, lambda: "time budget:" in shown(note), what="the estimate of the time budget")
        assert shown(note).startswith("expected: about 3 min on this CPU (the time budget")
        form.query_one("#field-width", Input).value = "-4"
        await wait_for(pilot, lambda: "fix the settings" in shown(note), what="no estimate for bad settings")


async def test_the_start_button_stays_put_when_the_estimate_arrives():
    """A click aimed at Start just before the estimate (two lines at this width) arrived used to land on the
    line above it: the button moved down."""
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        start, note = form.query_one("#start"), form.query_one("#estimate")
        start.scroll_visible(animate=False)
        await pilot.pause()
        before = start.region
        await wait_for(pilot, lambda: "25 min" in shown(note), what="the estimate")
        assert note.region.height >= 2 and start.region == before


async def test_the_forms_estimate_measures_a_tiny_model_on_this_cpu(monkeypatch):
    from core.training.estimate import estimate_duration

    monkeypatch.setattr(SeglabApp, "estimate_duration",
                        lambda app, config, cancelled=None: estimate_duration(config.with_absolute_paths()))
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        typed = {"epochs": "3", "batch_size": "4", "image_size": "32", "width": "8", "synthetic_count": "24",
                 "synthetic_size": "32"}
        for name, value in typed.items():
            form.query_one(f"#field-{name}", Input).value = value
        form.query_one("#field-device", Select).value = "cpu"
        note = form.query_one("#estimate")
        await wait_for(pilot, lambda: "(3 epochs of " in shown(note), what="a measured estimate", timeout=60)
        assert shown(note).startswith("expected: about ") and "on this CPU" in shown(note)


async def test_a_labelling_tools_export_is_named_in_the_data_check_and_trains_as_multiclass(tmp_path):
    from core.data import list_samples
    from core.data.images import load_pair
    from core.data.labels import OXFORD_CLASSES, Labels
    from core.inference.writers import LabelledImage, write_labels

    labels = Labels("multiclass", OXFORD_CLASSES)
    samples = list_samples(FIXTURES / "oxford-pet-tiny", "test")
    write_labels("cvat", [LabelledImage(s.name, s.image, load_pair(s, labels)[1]) for s in samples],
                 OXFORD_CLASSES, tmp_path / "cvat")
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        await choose_folder_data(pilot, form, str(tmp_path / "cvat"))
        note = form.query_one("#data-check")
        await wait_for(pilot, lambda: shown(note).startswith("CVAT mask export"), what="the data check")
        assert shown(note).startswith(f"CVAT mask export: 2 classes (pet, border), {len(samples)} images")
        assert shown(note).endswith("trains as multiclass")
        config = form.collect()
        assert (config.task, config.ignore_index, config.loss) == ("multiclass", 255, "ce")


async def test_the_form_loads_a_config_file_and_saves_its_settings_to_one(tmp_path):
    from core.config_files import read_config_file

    source = tmp_path / "pets.yaml"
    source.write_text("preset: small-data\nlr: 3e-4\nwidth: 16\naugment: strong\n")
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        form.query_one("#config-path", Input).value = str(source)
        form.query_one("#load-config").press()
        await wait_for(pilot, lambda: "loaded 4 settings" in shown(form.query_one("#form-errors")), what="loading")
        assert form.query_one("#field-lr", Input).value == "0.0003"
        assert form.query_one("#field-epochs", Input).value == "170"  # the preset's, under the file's
        assert form.query_one("#field-augment", Select).value == "strong"
        loaded = form.collect()
        saved = tmp_path / "saved" / "again.yaml"
        form.query_one("#config-path", Input).value = str(saved)
        form.query_one("#save-config").press()
        await wait_for(pilot, lambda: "saved to" in shown(form.query_one("#form-errors")), what="saving")
    assert TrainConfig(**read_config_file(saved)) == loaded
    assert loaded.lr == 3e-4 and loaded.width == 16 and loaded.preset == "small-data"


async def test_a_bad_config_file_is_one_line_in_the_form(tmp_path):
    (tmp_path / "bad.yaml").write_text("learning_rate: 1\n")
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        form.query_one("#config-path", Input).value = str(tmp_path / "bad.yaml")
        form.query_one("#load-config").press()
        await wait_for(pilot, lambda: "✗" in shown(form.query_one("#form-errors")), what="the error")
        assert "unknown train option 'learning_rate'" in shown(form.query_one("#form-errors"))


async def test_the_forms_answer_is_scrolled_into_view_on_a_short_terminal(harmless_training):
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:  # 30 lines
        form = await open_form(app, pilot)
        note = form.query_one("#form-errors")
        assert note.region.y >= SIZE[1]  # below the screen's last line until there is something to say
        lr = form.query_one("#field-lr", Input)
        lr.focus()
        await pilot.press("end", "ctrl+u", "a", "ctrl+s")
        await wait_for(pilot, lambda: note.region.bottom <= SIZE[1] - 1, what="the answer above the footer")
        assert "learning rate" in shown(note)


async def test_q_on_the_form_keeps_it_and_says_how_to_leave(harmless_training):
    app = make_app(runs_root())
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(app, pilot)
        form.query_one("#preset", Select).focus()  # not a text field, where q is a letter
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and app.screen is form
        assert any("esc goes back, ctrl+c quits" in str(n.message) for n in app._notifications)
        lr = form.query_one("#field-lr", Input)
        lr.focus()
        await pilot.press("end", "q")
        assert lr.value.endswith("q")  # in a text field q is still typed
