"""Chapter 10's data-parallel training on torch.distributed (gloo, CPU, 127.0.0.1): the engine's
naive, hooked and bucketed gradient averaging on 2 processes equal single-process training on
the full batch and torch's own DDP; a dead worker fails the run within a timeout; a checkpoint
rank 0 wrote resumes identically on 1 or 2 workers. Three launches (starting processes is the
slow part), each bounded in time."""

import time

import numpy as np
import pytest
import torch
import torch.distributed as dist

from course.data_parallel import initial_state, load_data, train, worker, worker_runs
from course.parallel import WorkerError, assign_buckets, launch, ring_traffic, shard
from engine.testing import TOLERANCES

MODES = ("naive", "hooked", "bucketed", "torch")
CAP = 32 * 1024  # bytes per bucket: DDP's 25 MiB scaled down to these small models


def config(dtype="float64", **extra):
    x, y = load_data("mlp", 256)
    cfg = dict(model="mlp", state=initial_state("mlp"), data=(x, y), dtype=dtype, steps=4,
               batch=32, lr=0.05, momentum=0.9, bucket_cap=CAP)
    return {**cfg, **extra}


def max_diff(state, reference):
    return max(float(np.abs(state[k] - reference[k]).max()) for k in reference)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One 2-worker launch: every mode in float64 and float32, then a run that saves a
    checkpoint at step 3 of 6 and one that resumes from it."""
    path = str(tmp_path_factory.mktemp("ddp") / "ckpt.npz")
    cfgs = [config(mode=m) for m in MODES] + [config("float32", mode="bucketed")]
    cfgs += [config(mode="bucketed", steps=6, save_at=3, save_to=path),
             config(mode="bucketed", steps=6, resume=path)]
    start = time.monotonic()
    outs = launch(worker_runs, 2, cfgs, timeout=240)
    assert time.monotonic() - start < 240
    return outs, path


def test_every_mode_equals_single_process_training_on_the_full_batch(runs):
    outs, _ = runs
    single = {dt: train(config(dt)) for dt in ("float64", "float32")}
    for k, mode in enumerate(MODES):
        rank0, rank1 = outs[0][k], outs[1][k]
        assert max_diff(rank0["state"], rank1["state"]) == 0, mode  # the ranks stay in sync
        assert max_diff(rank0["state"], single["float64"]["state"]) < 1e-12, mode
        full_batch_loss = (np.array(rank0["losses"]) + rank1["losses"]) / 2  # equal halves
        np.testing.assert_allclose(full_batch_loss, single["float64"]["losses"], rtol=1e-12)
    tol = TOLERANCES["float32"]
    got, want = outs[0][4]["state"], single["float32"]["state"]
    for name in want:
        np.testing.assert_allclose(got[name], want[name], **tol, err_msg=name)
    # and a wrong average (the sum, not the mean) would be far outside these tolerances
    assert max_diff(outs[0][0]["state"], initial_state("mlp")) > 1e-3


def test_hooks_fire_in_reverse_parameter_order_and_complete_ddps_buckets(runs):
    outs, _ = runs
    hooked, bucketed = outs[0][1], outs[0][2]
    assert [i for i, _ in hooked["log"]] == [5, 4, 3, 2, 1, 0]
    sizes = [v.nbytes for v in initial_state("mlp").values()]
    assert bucketed["buckets"] == assign_buckets(sizes, CAP) == [[3, 4, 5], [1, 2], [0]]
    assert [b for _, b in bucketed["log"]] == [0, 0, 0, 1, 1, 2]  # bucket 0 is ready first
    # torch's own assignment (DDP builds its buckets in parameter order, then reverses them)
    tensors = [torch.zeros(n // 8, dtype=torch.float64) for n in sizes]
    torch_buckets, _ = dist._compute_bucket_assignment_by_size(tensors, [CAP])
    assert bucketed["buckets"] == list(reversed(torch_buckets))


def test_a_rank0_checkpoint_resumes_identically_on_two_and_on_one_worker(runs):
    outs, path = runs
    whole, resumed = outs[0][5], outs[0][6]
    assert resumed["losses"] == whole["losses"][3:]  # bit for bit on 2 workers
    assert max_diff(resumed["state"], whole["state"]) == 0
    (alone,) = launch(worker, 1, config(mode="naive", steps=6, resume=path), timeout=120)
    assert len(alone["losses"]) == 3
    assert max_diff(alone["state"], whole["state"]) < 1e-12  # 1 worker: the full batch at once


def test_a_dead_worker_fails_the_others_within_the_timeout_not_a_hang():
    start = time.monotonic()
    with pytest.raises(WorkerError) as err:
        launch(worker, 2, config(mode="hooked", steps=6, die_at=1), timeout=120,
               collective_timeout=10)
    message = str(err.value)
    assert time.monotonic() - start < 120
    assert "rank 1: died (exit code 3)" in message
    assert "rank 0: " in message and "collective_timeout=10" in message


def test_shard_is_distributed_samplers_rule():
    for n, world in [(10, 2), (10, 3), (7, 4), (3, 4)]:
        indices = list(range(100, 100 + n))
        sampler = [list(torch.utils.data.DistributedSampler(indices, world, r, shuffle=False))
                   for r in range(world)]
        assert [shard(indices, r, world) for r in range(world)] == \
            [[indices[i] for i in s] for s in sampler]
    with pytest.raises(ValueError, match="rank 2 is not in 0..1"):
        shard([1, 2], 2, 2)


def test_ring_traffic_is_two_n_minus_one_over_n():
    assert ring_traffic(1000, 1) == 0
    assert ring_traffic(1000, 2) == 1000
    assert ring_traffic(1200, 4) == 1800
    assert ring_traffic(1000, 1000) < 2000


def test_an_exception_in_a_worker_is_reported_with_its_rank_type_and_line():
    with pytest.raises(WorkerError) as err:
        launch(worker, 2, config(model="resnet"), timeout=120, collective_timeout=10)
    message = str(err.value)
    for rank in (0, 1):
        assert f"rank {rank}: ValueError in data_parallel.py, line" in message
    assert "unknown model 'resnet'" in message and "0 of 2 workers finished" in message
    with pytest.raises(ValueError, match="world_size=0"):
        launch(worker, 0, config())
