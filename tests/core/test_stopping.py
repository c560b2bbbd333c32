"""Graceful stop on signals: the first sets the stop event and is announced once, by the training process only."""

from __future__ import annotations

import os
import signal

from core.training.stopping import stop_on_signals


def test_the_first_signal_sets_the_stop_event_and_calls_back_once():
    heard = []
    with stop_on_signals(heard.append) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.is_set() and heard == [signal.SIGTERM]


def test_a_forked_dataloader_worker_does_not_announce_the_terminals_ctrl_c():
    """Ctrl-C reaches every process of the terminal's group, DataLoader workers included; they inherit the
    handler, and each used to print "stopping after this step" again."""
    read_end, write_end = os.pipe()
    with stop_on_signals(lambda _signum: os.write(write_end, b"announced")) as stop:
        child = os.fork()
        if child == 0:  # the worker: gets the same Ctrl-C; it must never return into pytest
            code = 0
            try:
                os.kill(os.getpid(), signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)  # a second one must not raise KeyboardInterrupt there either
                code = 7 if stop.is_set() else 0
            except BaseException:  # noqa: BLE001
                code = 9
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
    os.close(write_end)
    announced = os.read(read_end, 100)
    os.close(read_end)
    assert os.waitstatus_to_exitcode(status) == 0
    assert announced == b""
