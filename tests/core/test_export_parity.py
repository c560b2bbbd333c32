"""Export's parity verdict holds each of its two limits on its own: a probability difference above 1e-3 fails even
when every mask pixel agrees, and mask agreement below 99.9 % fails even when the probabilities are within 1e-3
(check_parity on the fixture's images, with logits chosen to break one limit at a time)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.config import TrainConfig
from core.inference import export as export_module
from core.inference.export import MAX_PROBABILITY_DIFFERENCE, MIN_MASK_AGREEMENT, Parity, check_parity

OXFORD_TINY = Path(__file__).resolve().parents[1] / "fixtures" / "oxford-pet-tiny"


def constant_logits(value: float):
    """A stand-in network whose every logit is `value` (binary: one channel)."""
    return lambda images: torch.full((images.shape[0], 1, *images.shape[-2:]), value)


@pytest.mark.parametrize(("reference", "exported", "difference", "agreement", "ok"), [
    # 3.0 vs 3.05: probabilities 0.9526 vs 0.9548, 2.2e-3 apart; every mask pixel foreground in both
    (3.0, 3.05, pytest.approx(2.2e-3, rel=0.05), 1.0, False),
    # +1e-4 vs -1e-4: probabilities 5e-5 apart, but every mask pixel flips
    (1e-4, -1e-4, pytest.approx(5e-5, rel=0.05), 0.0, False),
    # 3.0 vs 3.001: both limits kept
    (3.0, 3.001, pytest.approx(4.5e-5, rel=0.05), 1.0, True),
])
def test_each_parity_limit_fails_the_verdict_on_its_own(monkeypatch, reference, exported, difference, agreement,
                                                        ok):
    monkeypatch.setattr(export_module, "load_exported", lambda path, fmt: constant_logits(exported))
    config = TrainConfig(data=str(OXFORD_TINY), image_size=32, cache="none")
    parity = check_parity(constant_logits(reference), Path("unused.onnx"), "onnx", config, 32, dynamic=True)
    assert parity.images > 0
    assert (parity.max_probability_difference, parity.mask_agreement, parity.ok) == (difference, agreement, ok)


@pytest.mark.parametrize(("difference", "agreement", "ok"), [
    (MAX_PROBABILITY_DIFFERENCE, MIN_MASK_AGREEMENT, True),  # the limits themselves pass
    (MAX_PROBABILITY_DIFFERENCE * 1.01, 1.0, False),
    (0.0, MIN_MASK_AGREEMENT - 1e-4, False),
    (MAX_PROBABILITY_DIFFERENCE * 1.01, MIN_MASK_AGREEMENT - 1e-4, False),
])
def test_the_verdict_at_and_past_each_limit(difference, agreement, ok):
    assert Parity(images=8, max_probability_difference=difference, mask_agreement=agreement).ok is ok
