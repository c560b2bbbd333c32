"""A run's status rebuilt from its event log when status.json is missing or damaged (a copied folder, a full disk
mid-write by an old version): its last state, epochs and best Dice, so listings and the dashboard show what the run
did rather than a run that never started."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from core.runs.events import EpochEvent, StatusEvent, read_history
from core.runs.status import FINAL_STATES, State

QUIET_S = 120.0  # a log this quiet whose last word is 'running' belongs to a process that is gone
DAMAGED_NOTE = "status.json unreadable; state read from events.jsonl"


def recovered_status(folder: Path) -> dict[str, Any] | None:
    """status.json's fields as the folder's events.jsonl tells them (and config.json's model and data), or None
    when there is no log to read. A last word of 'running' from a quiet log reads as a stopped run's: nothing
    says which process trained it, so no 'stop' is offered for a process that may be long gone."""
    log = folder / "events.jsonl"
    if not log.is_file():
        return None
    events = read_history(log)[0]
    states = [event for event in events if isinstance(event, StatusEvent)]
    epochs = [event for event in events if isinstance(event, EpochEvent)]
    if not states and not epochs:
        return None
    last = states[-1] if states else None
    quiet = time.time() - log.stat().st_mtime > QUIET_S
    state = last.state if last is not None and (last.state in FINAL_STATES or not quiet) else State.STOPPED
    scores = [event.val_dice for event in epochs if event.val_dice == event.val_dice]
    recovered: dict[str, Any] = {
        "state": state, "created": events[0].time, "started": states[0].time if states else None,
        "updated": events[-1].time, "finished": last.time if last is not None and state in FINAL_STATES else None,
        "epoch": epochs[-1].epoch if epochs else 0, "epochs": epochs[-1].epochs if epochs else 0,
        "best_dice": max(scores) if scores else None,
        "message": f"{DAMAGED_NOTE}: {last.message}" if last is not None and last.message else DAMAGED_NOTE}
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    if isinstance(config, dict):
        recovered["model"], recovered["data"] = str(config.get("model", "")), str(config.get("data", ""))
    return recovered
