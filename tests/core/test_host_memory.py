"""glibc malloc keeps freed tensor memory for reuse under seglab (fewer page faults per step), and
SEGLAB_MALLOC=system or an unknown value behave as documented."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core import host_memory
from core.errors import ConfigError

# Allocate, fill and free a 64 MiB tensor twenty times, after five rounds that let the heap settle;
# report the minor page faults the twenty took.
# Transparent huge pages are turned off for the child first: with THP "always" (RHEL's default) a 64 MiB block
# may fault in as 2 MiB pages, and the counts below assume 4 KiB ones.
FAULTS_SCRIPT = """
import ctypes, json, resource, sys
ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE
import torch
from core.device import resolve_runtime
applied = resolve_runtime("cpu", "fp32", "contiguous").prepare_host_memory()
for _ in range(5):  # first touches: pages are faulted in either way, and the heap finds its size
    torch.ones(16 * 2**20).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(int(sys.argv[1])):
    torch.ones(16 * 2**20).sum()
print(json.dumps({"applied": applied, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""
PAGES_PER_TENSOR = 64 * 2**20 // 4096
ROUNDS = 20


def faults_with(env_value: str | None, monkeypatch) -> dict:
    if env_value is None:
        monkeypatch.delenv(host_memory.MALLOC_ENV, raising=False)
    else:
        monkeypatch.setenv(host_memory.MALLOC_ENV, env_value)
    done = subprocess.run([sys.executable, "-c", FAULTS_SCRIPT, str(ROUNDS)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings apply on Linux")
def test_reused_memory_is_not_faulted_in_again_for_every_tensor(monkeypatch):
    system = faults_with("system", monkeypatch)
    reused = faults_with(None, monkeypatch)

    assert system["applied"] == "system" and reused["applied"] == "reuse"
    # glibc's default maps and unmaps each 64 MiB block: every round faults all its pages in again.
    assert system["faults"] > (ROUNDS - 2) * PAGES_PER_TENSOR
    # Kept for reuse, a settled heap hands the same pages back: nothing is faulted in per round (measured
    # here: 0). Where a small allocation lands in a freed block, the heap may still grow by a block now
    # and then (before the settling rounds: 0 to 4 blocks in 10 rounds); a fifth of the rounds at most.
    assert reused["faults"] <= ROUNDS // 5 * PAGES_PER_TENSOR


def test_an_unknown_malloc_setting_is_an_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv(host_memory.MALLOC_ENV, "jemalloc")
    with pytest.raises(ConfigError, match=r"SEGLAB_MALLOC='jemalloc' is not one of reuse, system"):
        host_memory.requested_malloc()


def test_system_setting_is_what_the_process_reports(monkeypatch):
    monkeypatch.setenv(host_memory.MALLOC_ENV, "system")
    monkeypatch.setattr(host_memory, "_applied", None)
    assert host_memory.reuse_freed_memory() == "system"
