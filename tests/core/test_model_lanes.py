"""Model lanes: the plan for each kind of machine, and the hand-over that gives lanes batches in order, holds them
back when they run too far ahead, and gives their results back in input order whatever order they finish in."""

from __future__ import annotations

import threading

import pytest
import torch

from core.inference.model_lanes import BatchDone, BatchHandOver, LanePlan, lane_plan


@pytest.mark.parametrize(("device", "threads", "module", "plan"), [
    ("cpu", 2, True, LanePlan(2, threads=1)),
    ("cpu", 4, True, LanePlan(4, threads=1)),
    ("cpu", 8, True, LanePlan(1, exclusive=True)),  # memory grows with the lanes: above 4 one lane, every thread
    ("cpu", 1, True, LanePlan(1)),
    ("cpu", 2, False, LanePlan(1, exclusive=True)),  # ONNX Runtime: its own thread pool
    ("cuda", 2, True, LanePlan(1)),
])
def test_the_lane_plan_for_each_machine(device, threads, module, plan):
    model = torch.nn.Identity() if module else object()
    assert lane_plan(model, torch.device(device), threads) == plan


def test_results_come_back_in_input_order_whatever_order_the_lanes_finish_in():
    hand_over = BatchHandOver(3, lanes=2, stop=None)
    assert [hand_over.take(), hand_over.take(), hand_over.take()] == [0, 1, 2]
    first, second, third = BatchDone(), BatchDone(), BatchDone()
    hand_over.give_back(2, third)
    hand_over.give_back(1, second)
    assert hand_over.next_finished(wait=False) is None  # batch 0 is still running
    hand_over.give_back(0, first)
    assert [hand_over.next_finished(), hand_over.next_finished(), hand_over.next_finished()] == [first, second, third]
    assert hand_over.take() is None  # all taken
    hand_over.lane_ended()
    hand_over.lane_ended()
    assert hand_over.next_finished() is None  # no lane left, nothing more to come


def test_a_lane_waits_when_it_is_a_lane_count_plus_one_batches_ahead_of_the_appending():
    hand_over = BatchHandOver(10, lanes=1, stop=None)
    assert [hand_over.take(), hand_over.take()] == [0, 1]
    taken = []
    lane = threading.Thread(target=lambda: taken.append(hand_over.take()), daemon=True)
    lane.start()
    lane.join(timeout=0.2)
    assert lane.is_alive() and taken == []  # held back: batches 0 and 1 are not handed back yet
    hand_over.give_back(0, BatchDone())
    assert hand_over.next_finished() is not None
    lane.join(timeout=5)
    assert taken == [2]


@pytest.mark.parametrize("how", ["stop", "halt"])
def test_once_stopped_or_halted_no_batch_is_taken_and_those_taken_still_come_back(how):
    stop = threading.Event()
    hand_over = BatchHandOver(10, lanes=2, stop=stop)
    assert [hand_over.take(), hand_over.take()] == [0, 1]
    stop.set() if how == "stop" else hand_over.halt()
    assert hand_over.take() is None
    hand_over.give_back(1, BatchDone())
    hand_over.give_back(0, BatchDone())
    hand_over.lane_ended()
    hand_over.lane_ended()
    assert hand_over.next_finished() is not None and hand_over.next_finished() is not None
    assert hand_over.next_finished() is None
