"""Notifications: the JSON a URL receives, the environment a command gets, retries, and that sending never waits
for the endpoint."""

from __future__ import annotations

import threading
import time

from core.runs.notifications import Notice, Notifier
from tests.core.notify_server import NotifyServer

NOTICE = Notice(run="20261206-pets", state="finished", epoch=3, epochs=3, best_dice=0.91, elapsed_s=12.5,
                host="lab-1", message="finished 3 epochs", folder="/runs/20261206-pets")


def test_a_url_receives_the_notice_as_json():
    with NotifyServer() as server:
        notifier = Notifier(server.url)
        notifier.send(NOTICE)
        notifier.close()
    assert server.received == [{"run": "20261206-pets", "state": "finished", "epoch": 3, "epochs": 3,
                                "best_dice": 0.91, "elapsed_s": 12.5, "host": "lab-1",
                                "message": "finished 3 epochs", "folder": "/runs/20261206-pets"}]


def test_a_failing_endpoint_is_retried_then_one_warning_without_the_secret_path():
    warnings: list[str] = []
    with NotifyServer(failures=2) as server:
        notifier = Notifier(server.url, warn=warnings.append, backoff_s=0.01)
        notifier.send(NOTICE)
        notifier.close()
    assert server.states() == ["finished"] and warnings == []  # the third try went through
    with NotifyServer(failures=5) as server:
        notifier = Notifier(server.url, warn=warnings.append, backoff_s=0.01)
        notifier.send(NOTICE)
        notifier.close()
    assert server.received == []
    assert warnings == [f"notification POST to {server.url.rsplit('/hooks', 1)[0]}/... failed after 3 tries: "
                        "HTTP 503 Service Unavailable"]


def test_send_returns_while_the_endpoint_still_holds_the_request():
    hold = threading.Event()
    with NotifyServer(hold=hold) as server:
        notifier = Notifier(server.url)
        notifier.send(NOTICE)  # the server holds it until `hold` is set: send must not be waiting for it
        assert server.received == [] and not hold.is_set()
        hold.set()
        notifier.close()
    assert server.states() == ["finished"]


def test_a_command_gets_the_fields_in_its_environment(tmp_path):
    out = tmp_path / "notified.txt"
    notifier = Notifier(command=f'echo "$SEGLAB_RUN $SEGLAB_STATE $SEGLAB_EPOCH/$SEGLAB_EPOCHS $SEGLAB_BEST_DICE" '
                                f'>> {out}')
    notifier.send(NOTICE)
    notifier.send(Notice(**{**NOTICE.__dict__, "state": "stalled", "best_dice": None}))
    notifier.close()
    assert out.read_text() == "20261206-pets finished 3/3 0.91\n20261206-pets stalled 3/3 \n"


def test_a_failing_command_is_one_warning_naming_its_exit():
    warnings: list[str] = []
    notifier = Notifier(command="echo nope >&2; exit 3", warn=warnings.append, backoff_s=0.01)
    notifier.send(NOTICE)
    notifier.close()
    assert warnings == ["notification command 'echo nope >&2; exit 3' failed after 3 tries: exit 3: nope"]


def written(path) -> str:
    """A file's text, "" before it exists (the shell's `>` makes it empty before echo writes the line)."""
    return path.read_text() if path.exists() else ""


def test_a_slow_webhook_does_not_hold_the_command_back(tmp_path):
    hold, out = threading.Event(), tmp_path / "notified.txt"
    with NotifyServer(hold=hold) as server:
        notifier = Notifier(server.url, command=f'echo "$SEGLAB_STATE" > {out}')
        notifier.send(NOTICE)
        deadline = time.monotonic() + 20
        while not written(out).endswith("\n") and time.monotonic() < deadline:  # the webhook is still held
            time.sleep(0.02)
        assert written(out) == "finished\n" and server.received == []
        hold.set()
        notifier.close()
    assert server.states() == ["finished"]


def test_the_end_of_a_run_waits_for_a_dead_endpoint_only_so_long():
    warnings: list[str] = []
    hold = threading.Event()
    with NotifyServer(hold=hold) as server:
        notifier = Notifier(server.url, warn=warnings.append, timeout_s=0.2, backoff_s=0.05)
        notifier.send(NOTICE)
        started = time.monotonic()
        notifier.close(wait_s=5)
        waited = time.monotonic() - started
    assert waited < 5 and warnings and warnings[0].endswith("failed after 3 tries: timed out")


def test_an_endpoint_that_never_answers_before_the_end_is_a_warning_not_silence():
    warnings: list[str] = []
    hold = threading.Event()
    with NotifyServer(hold=hold) as server:
        notifier = Notifier(server.url, warn=warnings.append, timeout_s=30)  # its answer would come too late
        notifier.send(NOTICE)
        notifier.close(wait_s=0.5)
        hold.set()
    assert warnings == [f"notification POST to {server.url.rsplit('/hooks', 1)[0]}/... not confirmed: no answer "
                        "within 0.5 s of the run's end; not waiting longer"]
