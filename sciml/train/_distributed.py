"""Multi-process (multi-host) training with `jax.distributed`: joining a run, starting one on this machine, the main
process, barriers, and host copies of arrays that span processes.

Every process runs the same program on its own devices; the device mesh spans all of them and XLA inserts the
collectives (gloo on CPU, NCCL on GPU). Process 0 is the main process: it alone writes files (metrics, checkpoints,
summaries, figures, predictions); the others compute the same things and write nothing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils

from sciml._cpu_devices import XLA_FLAGS_GIVEN
from sciml._errors import ConfigError

COORDINATOR = "SCIML_COORDINATOR"
PROCESS_ID = "SCIML_PROCESS_ID"
NUM_PROCESSES = "SCIML_NUM_PROCESSES"


def cluster_from_environment(env: Mapping[str, str]) -> dict | None:
    """The `jax.distributed.initialize` arguments of the multi-process run `env` describes, or None for one process.

    ``SCIML_COORDINATOR`` (host:port of process 0), ``SCIML_NUM_PROCESSES`` and ``SCIML_PROCESS_ID`` name the run
    explicitly (`run_local_processes` sets them); otherwise a Slurm job step (`srun`) or an Open MPI job of several
    tasks gives ``{}``, for JAX to read its variables. A batch script itself, or a step of one task (a `sciml sweep`
    member), is one process.
    """
    explicit = {name: env.get(name) for name in (COORDINATOR, NUM_PROCESSES, PROCESS_ID)}
    if any(explicit.values()):
        missing = [name for name, value in explicit.items() if not value]
        if missing:
            raise ConfigError(f"a multi-process run needs {COORDINATOR}, {NUM_PROCESSES} and {PROCESS_ID}; "
                              f"{', '.join(missing)} not set. Set all three (e.g. {COORDINATOR}=host0:12345 "
                              f"{NUM_PROCESSES}=2 {PROCESS_ID}=0) or none.")
        try:
            count, index = int(explicit[NUM_PROCESSES]), int(explicit[PROCESS_ID])
        except ValueError:
            raise ConfigError(f"{NUM_PROCESSES} and {PROCESS_ID} must be integers, got "
                              f"{explicit[NUM_PROCESSES]!r} and {explicit[PROCESS_ID]!r}") from None
        if not 0 <= index < count:
            raise ConfigError(f"{PROCESS_ID}={index} must lie in [0, {NUM_PROCESSES}={count}); number the processes "
                              "0, 1, ... count - 1")
        return {"coordinator_address": explicit[COORDINATOR], "num_processes": count, "process_id": index}
    if "SLURM_STEP_ID" in env and int(env.get("SLURM_STEP_NUM_TASKS", "1")) > 1:
        return {}
    if int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
        return {}
    return None


def join_cluster(env: Mapping[str, str] | None = None) -> bool:
    """Join the multi-process run the environment describes (`cluster_from_environment`); True when there is one.

    Call it before any other JAX work. On CPU the processes talk through gloo collectives.
    """
    settings = cluster_from_environment(os.environ if env is None else env)
    if settings is None:
        return False
    if not jax.distributed.is_initialized():
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(**settings)
    return True


def is_main_process() -> bool:
    """Whether this is process 0, the one that writes files (always true in a single-process run)."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reached the barrier `name` (nothing to wait for in a single-process run)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def broadcast_from_main(value: bool) -> bool:
    """Process 0's `value` in every process (a decision all must take alike, e.g. "the time budget is spent")."""
    if jax.process_count() == 1:
        return value
    return bool(multihost_utils.broadcast_one_to_all(np.asarray(value)))


def host_local(tree):
    """`tree` with every array that spans other processes replaced by a copy on this process's first device.

    A replicated array gives its local copy; a sharded one is gathered from all processes (a collective: every
    process must call this at the same point). Arrays of this process alone are returned as they are.
    """

    def local(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return x
        if x.is_fully_replicated:
            return x.addressable_data(0)
        return jax.device_put(multihost_utils.process_allgather(x, tiled=True), jax.local_devices()[0])

    return jax.tree_util.tree_map(local, tree)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def run_local_processes(command: Sequence[str], processes: int, *, poll_s: float = 0.2) -> int:
    """Run `command` as `processes` processes of one multi-process run on this machine and return its exit code.

    Each process gets the coordinator (process 0, on a free localhost port), the process count and its index in
    `SCIML_*` variables (`join_cluster` reads them), one CPU device (``SCIML_CPU_DEVICES=1`` unless set: the
    processes share this machine's cores) and the `XLA_FLAGS` this process was started with (not the device count its
    `import sciml` added). Process 0 keeps stdout; all keep stderr. When one process fails,
    the others are stopped (a run cannot go on without one of its processes) and its exit code is returned (128 +
    the signal for a killed one); the checkpoints written so far let the same command resume.
    """
    if processes < 1:
        raise ConfigError(f"--processes must be >= 1, got {processes}")
    coordinator = f"localhost:{_free_port()}"
    shared = {"SCIML_CPU_DEVICES": "1", **os.environ}
    shared.pop("XLA_FLAGS", None)
    if XLA_FLAGS_GIVEN is not None:  # the flags as given, without the device count this process's import added
        shared["XLA_FLAGS"] = XLA_FLAGS_GIVEN
    children = []
    for index in range(processes):
        env = {**shared, COORDINATOR: coordinator, NUM_PROCESSES: str(processes), PROCESS_ID: str(index)}
        children.append(subprocess.Popen(list(command), env=env, stdout=None if index == 0 else subprocess.DEVNULL))
    try:
        while True:
            codes = [child.poll() for child in children]
            failed = [(index, code) for index, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                index, code = failed[0]
                code = 128 - code if code < 0 else code
                print(f"sciml: process {index} of {processes} ended with exit code {code}; stopping the others. The "
                      "same command resumes from the last checkpoint.", file=sys.stderr)
                _stop(children)
                return code
            if all(code == 0 for code in codes):
                return 0
            time.sleep(poll_s)
    except KeyboardInterrupt:  # Ctrl-C reached the processes too: let them end as interrupted runs do
        deadline = time.monotonic() + 10.0
        while any(child.poll() is None for child in children) and time.monotonic() < deadline:
            time.sleep(poll_s)
        _stop(children)
        return 130


def _stop(children: Sequence[subprocess.Popen]) -> None:
    """Kill the processes still running: SIGTERM would not do (JAX's coordination service takes it as a preemption
    notice), and every file they write is written atomically, so the next run resumes from what is on disk."""
    for child in children:
        if child.poll() is None:
            child.kill()
    for child in children:
        child.wait()
