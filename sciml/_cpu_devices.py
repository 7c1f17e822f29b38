"""One XLA CPU device per core, asked for when `sciml` is imported (before XLA's CPU backend starts).

Work placed on one device runs as before (XLA's threads span every core); PINN residuals split their points over the
devices (`sciml.pde._blocked.point_split`), which runs their elementwise derivative arithmetic on every core: XLA's
CPU backend threads only matrix products. A leaf module: the training engine reads `XLA_FLAGS_GIVEN` from here.
"""

from __future__ import annotations

import os
import warnings

# The XLA flags as the environment gave them, before sciml added its device count (None: unset); the processes of a
# multi-process run started from this one get these (`sciml.train.run_local_processes`).
XLA_FLAGS_GIVEN = os.environ.get("XLA_FLAGS")


def one_cpu_device_per_core() -> None:
    """Add ``--xla_force_host_platform_device_count`` = the available cores to `XLA_FLAGS` (``SCIML_CPU_DEVICES``
    overrides the count; 1 turns this off), unless the flags already name a device count or run XLA on one thread.
    Without effect once XLA's CPU backend has started."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags or "intra_op_parallelism_threads=1" in flags:
        return
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    requested = os.environ.get("SCIML_CPU_DEVICES", "").strip()
    valid = requested.isdigit() and int(requested) > 0
    if requested and not valid:  # a warning, not an error: importing sciml must not fail over a speed setting
        warnings.warn(f"SCIML_CPU_DEVICES: expected a positive number of CPU devices, got {requested!r}; using one "
                      f"device per core ({cores}). Set a number (1 for a single device) or unset it.", stacklevel=3)
    count = int(requested) if valid else cores
    if count > 1:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()
