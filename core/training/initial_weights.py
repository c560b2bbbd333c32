"""Starting weights other than a random init: an earlier run's or checkpoint's model (`init_from`), or ImageNet
weights for the encoder or backbone (`encoder_weights`: 'imagenet', found through core/models/imagenet.py, or a
local file)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from core.config import IMAGENET_WEIGHTS, TrainConfig
from core.errors import CheckpointError, ConfigError
from core.models.imagenet import imagenet_weights_file
from core.runs.folders import open_run
from core.training.checkpoints import load_checkpoint


def init_checkpoint_path(reference: str, runs_root: Path) -> Path:
    """A checkpoint file as given, or the best.pt of a run named by folder or name prefix."""
    path = Path(reference).expanduser()
    if path.is_file():
        return path
    run = open_run(reference, runs_root)
    best = run.checkpoint_path("best")
    if not best.is_file():
        raise ConfigError(f"init_from: run {run.name} has no checkpoints/best.pt yet")
    return best


def stored_init_from(reference: str, runs_root: Path) -> str:
    """What a run keeps of --init-from: a file's path as given (made absolute before), a run's full folder name
    for a prefix or --name (still a name, so the runs folder can move; a prefix would grow ambiguous, or lead to
    another run, as runs are added)."""
    if Path(reference).expanduser().exists():
        return reference
    return open_run(reference, runs_root).path.name


def encoder_weights_file(config: TrainConfig) -> Path:
    """The file --encoder-weights names: 'imagenet' resolved to where the model's ImageNet weights live (one line
    saying where they come from when they are not on this machine), else the path given."""
    if config.encoder_weights == IMAGENET_WEIGHTS:
        return imagenet_weights_file(config.model)
    return Path(config.encoder_weights)


def load_initial_weights(model: nn.Module, config: TrainConfig, runs_root: Path) -> str | None:
    """Apply config.encoder_weights and config.init_from to a fresh model; a description of what was
    loaded, or None. Every mismatch is one ConfigError line naming the file."""
    loaded = []
    if config.encoder_weights:
        path = encoder_weights_file(config)
        try:  # TrainConfig refuses encoder_weights for a model without ImageNet weights
            model.load_encoder_weights(path)
        except CheckpointError as error:
            raise ConfigError(f"encoder_weights: {error}") from None
        loaded.append(f"ImageNet encoder weights from {path}")
    if config.init_from:
        path = init_checkpoint_path(config.init_from, runs_root)
        payload = load_checkpoint(path)
        source = payload["config"]
        if (source.get("model"), source.get("width")) != (config.model, config.width):
            raise ConfigError(f"init_from: {path} holds a {source.get('model')} of width {source.get('width')}; "
                              f"this run trains a {config.model} of width {config.width}")
        source_task = source.get("task", "binary")
        source_outputs = 1 if source_task == "binary" else source.get("classes")
        if source_outputs != config.out_channels:
            raise ConfigError(f"init_from: {path} holds a {source_task} model with {source_outputs} output "
                              f"channel(s); this run needs {config.out_channels} ({config.task})")
        try:
            model.load_state_dict(payload["model"])
        except RuntimeError as error:
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            raise ConfigError(f"init_from: {path}: weights do not fit ({lines[-1][:160] if lines else ''})") from None
        loaded.append(f"weights from {path} (epoch {payload['epoch']})")
    return "; ".join(loaded) or None


def check_initial_weights(config: TrainConfig, runs_root: Path) -> None:
    """Fail now, before a run folder exists, if the starting weights are missing or do not fit."""
    if config.init_from or config.encoder_weights:
        from core.run_model import model_for

        model = model_for(config)
        load_initial_weights(model, config, runs_root)


def init_class_names_warning(config: TrainConfig, runs_root: Path) -> str | None:
    """A warning when a multiclass run starts from weights trained on classes named otherwise, or in another order:
    each output channel starts as the class in its position was, so a swapped order begins every class from
    another's weights. None when the names match, the run is binary, or the checkpoint does not name its classes."""
    if not config.init_from or config.task != "multiclass":
        return None
    from core.run_data import class_names

    path = init_checkpoint_path(config.init_from, runs_root)
    source = tuple(str(name) for name in load_checkpoint(path).get("class_names") or ())
    ours = class_names(config)
    if not source or source == ours:
        return None
    how = "in another order" if sorted(source) == sorted(ours) else "with other names"
    return (f"init_from: {path} was trained on classes {', '.join(source)}; this data names them {how} "
            f"({', '.join(ours)}): each output channel starts from the weights of the class in its position")
