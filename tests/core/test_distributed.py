"""Data sharding and batch arithmetic for torchrun training, checked without starting processes:
every image evaluated once, global batches identical for any process count, one-line errors."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from core.config import TrainConfig, per_process_batch
from core.device import resolve_runtime
from core.errors import ConfigError
from core.models import build_model
from core.training.distributed import Distributed, ShardSampler, as_peer_failure, check_processes_fit_gpus, wrap_model
from core.training.loops import make_loader


@pytest.mark.parametrize(("length", "world"), [(7, 2), (8, 2), (10, 3), (2, 3)])
def test_evaluation_shards_cover_every_image_exactly_once(length, world):
    seen = [i for rank in range(world) for i in ShardSampler(length, Distributed(rank=rank, world_size=world))]
    assert sorted(seen) == list(range(length))
    lengths = [len(ShardSampler(length, Distributed(rank=rank, world_size=world))) for rank in range(world)]
    assert sum(lengths) == length and max(lengths) - min(lengths) <= 1


def test_global_batch_i_holds_the_same_images_for_one_or_two_processes():
    config = TrainConfig(batch_size=8, seed=5, workers=0)
    runtime = resolve_runtime("cpu", "fp32", "contiguous")
    dataset = TensorDataset(torch.arange(36))

    def batches(world: int, rank: int) -> list[list[int]]:
        loader = make_loader(dataset, config, runtime, shuffle=True, distributed=Distributed(rank, world))
        loader.sampler.set_epoch(3)
        return [batch[0].tolist() for batch in loader]

    single = batches(1, 0)
    ranks = [batches(2, 0), batches(2, 1)]
    assert [len(b) for b in single] == [8, 8, 8, 8]  # the last partial batch (4 images) is dropped
    assert [len(b) for b in ranks[0]] == [4, 4, 4, 4]
    for i, batch in enumerate(single):
        assert sorted(ranks[0][i] + ranks[1][i]) == sorted(batch)
    assert batches(1, 0) == single  # the same epoch, the same order
    other_epoch = make_loader(dataset, config, runtime, shuffle=True)
    other_epoch.sampler.set_epoch(4)
    assert [batch[0].tolist() for batch in other_epoch] != single


@pytest.mark.parametrize(("length", "batch", "world"), [(39, 8, 2), (37, 8, 4), (21, 4, 2), (10, 8, 2)])
def test_steps_per_epoch_and_images_seen_do_not_depend_on_the_process_count(length, batch, world):
    """DistributedSampler's default pads 39 images to 40 for two processes: 5 steps instead of one process's 4,
    one image seen twice. Dropping the tail instead keeps len(dataset) // batch steps and no repeats."""
    config = TrainConfig(batch_size=batch, seed=1, workers=0)
    runtime = resolve_runtime("cpu", "fp32", "contiguous")
    dataset = TensorDataset(torch.arange(length))

    def batches(world: int, rank: int) -> list[list[int]]:
        loader = make_loader(dataset, config, runtime, shuffle=True, distributed=Distributed(rank, world))
        loader.sampler.set_epoch(2)
        return [batch[0].tolist() for batch in loader]

    single = batches(1, 0)
    per_rank = [batches(world, rank) for rank in range(world)]
    assert {len(steps) for steps in per_rank} == {len(single)}
    assert len(single) == max(length // batch, 1)
    for i, batch_of_one in enumerate(single):
        together = sorted(index for steps in per_rank for index in steps[i])
        assert len(together) == len(set(together))  # no image repeated to pad the set
        if length >= batch:
            assert together == sorted(batch_of_one)


def test_the_batch_size_is_global_and_must_split_evenly():
    assert per_process_batch(16, 4) == 4
    with pytest.raises(ConfigError, match="batch_size: the global batch 16 does not split evenly over 3 processes"):
        per_process_batch(16, 3)


def test_more_processes_than_gpus_are_refused_in_one_line_before_launch():
    with pytest.raises(ConfigError) as error:
        check_processes_fit_gpus(4, 2)
    assert str(error.value) == ("--nproc 4: this machine has 2 CUDA GPUs and each training process drives one; "
                                "use --nproc 2 or fewer, or --device cpu")
    check_processes_fit_gpus(2, 2)


def test_sync_bn_on_cpu_is_refused_in_one_line():
    runtime = resolve_runtime("cpu", "fp32", "contiguous")
    with pytest.raises(ConfigError, match="sync_bn: torch's SyncBatchNorm runs on GPUs only"):
        wrap_model(build_model("unet", width=8), Distributed(rank=0, world_size=2), runtime, sync_bn=True)


def test_one_process_trains_the_model_itself_without_a_wrapper():
    model = build_model("unet", width=8)
    assert wrap_model(model, Distributed(), resolve_runtime("cpu", "fp32", "contiguous"), sync_bn=True) is model


def test_a_dead_peer_reads_as_one_line_and_other_errors_pass_through():
    failure = as_peer_failure(RuntimeError("[pair.cc:561] Connection closed by peer [127.0.0.1]:5511. GLHF"))
    assert failure is not None
    assert str(failure).startswith("another training process failed or was killed ([pair.cc:561] Connection")
    assert as_peer_failure(RuntimeError("shapes do not match")) is None
    assert as_peer_failure(ValueError("gloo")) is None
