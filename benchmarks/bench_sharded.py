"""Sharded checkpoints: save and load of the GPT-2-medium-shaped model (292 float32 tensors,
1.42 GB) sharded Megatron-style over 4 CPU devices of one process, and over 2 processes x 2
devices, against gathering to one host then saving, and against Orbax's sharded checkpointing of
the same arrays on the same mesh, all in one run.

Layout (per layer): ``c_attn``/``c_fc`` weights split by columns (axis 1), ``c_proj`` weights
split by rows (axis 0), ``wte`` split by columns (50257 rows do not divide by 4), ``wpe`` by rows,
biases and layer norms replicated.

Systems, saves (``durable=False`` for flowsnap; Orbax does not fsync either):

* ``flowsnap sharded``: ``flow.checkpoint.save(path, arrays)``: each process writes its shards
  into the files, process 0 publishes;
* ``gather + flowsnap``: every array gathered to host memory (``np.asarray`` in one process,
  ``multihost_utils.process_allgather`` across processes), process 0 writes an unsharded save;
* ``orbax``: ``orbax.checkpoint.StandardCheckpointer().save`` (tensorstore, OCDBT);
* ``dcp``: PyTorch's ``torch.distributed.checkpoint.save`` with the default ``FileSystemWriter``
  (one ``.distcp`` file per rank, ``sync_files=True``: it fsyncs), and ``dcp, sync_files=False``
  (the same without the fsync, like the others). The same arrays as torch tensors: with 2
  processes, ``torch.distributed`` on gloo (localhost) and a ``DTensor`` per variable on a
  2-rank ``DeviceMesh`` (``Shard(axis)`` as above, ``Replicate()`` for the replicated ones; the
  path DCP documents for torch 2.x, ``ShardedTensor`` being deprecated), each rank holding the
  half its two JAX devices hold; with 1 process (one rank), plain tensors without a process
  group (DCP's non-distributed mode), since a torch rank has one CPU device.

Loads into the same shardings: ``flowsnap sharded`` (each process reads its blocks, chunks
verified), ``flowsnap reshard`` (into a different layout: everything split by rows where it
divides, else replicated), ``read whole + slice`` (each process reads every file whole,
verified, then slices: what loading an unsharded checkpoint costs), ``orbax`` and ``dcp``
(``torch.distributed.checkpoint.load`` with the default ``FileSystemReader`` into freshly
allocated tensors/DTensors of the save's layout, the allocation timed; round 0 checks the values).
Between the saves and the loads process 0 calls ``os.sync()`` (untimed), so that no load
competes with the writeback of the saves before it, and the loads' order rotates by round (the
first load after the saves runs slower, whatever it is). Files and bytes on disk of every save are
listed after the times, and for each load the bytes
process 0 read (``rchar`` of ``/proc/self/io``: every ``read``/``pread``/``preadv``, page cache
or not; mmap'd reads are not counted).

Usage: ``python benchmarks/bench_sharded.py [--quick] [--reps N] [--systems fs,dcp]
[--configs 2]``; prints a Markdown table per configuration (median seconds over the rounds, and
ratios to flowsnap of the same run). ``--systems`` picks among ``fs`` (flowsnap sharded, always
run), ``gather``, ``orbax`` and ``dcp``; ``--configs`` picks ``1`` (4 devices, 1 process), ``2``
(2 processes x 2 devices) or ``both``. The flowsnap measured is the one Python imports
(``PYTHONPATH=<other checkout>/src`` measures another version with the same script).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_format import gpt2_medium_shapes  # noqa: E402


def quick_shapes() -> dict[str, tuple[int, ...]]:
    """A 4-layer, vocabulary-8192 version of the same model (about 80 MB)."""
    shapes = {}
    for name, shape in gpt2_medium_shapes().items():
        if name.startswith("h") and int(name[1:].split("-")[0]) >= 4:
            continue
        shapes[name] = (8192, shape[1]) if name == "wte" else shape
    return shapes


def layout(name: str, shape: tuple[int, ...], devices: int, reshard: bool) -> tuple[Any, ...]:
    """The PartitionSpec entries of a variable (Megatron-style; ``reshard``: rows where they
    divide)."""
    if reshard:
        return ("a",) if shape[0] % devices == 0 and len(shape) > 0 else ()
    if len(shape) == 1:
        return ()
    if name == "wte" or "c_attn-weight" in name or "c_fc-weight" in name:
        return (None, "a")
    return ("a", None)


def child(args: argparse.Namespace) -> None:
    import jax

    if args.nprocs > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{args.port}",
            num_processes=args.nprocs,
            process_id=args.pid,
        )
    import orbax.checkpoint as ocp
    import torch
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    from jax.experimental import multihost_utils
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P
    from torch.distributed.tensor import DTensor, Replicate, Shard, init_device_mesh

    import flowsnap as flow
    from flowsnap.checkpoint._shardload import load_sharded
    from flowsnap.checkpoint._sync import barrier
    from flowsnap.format import open_snapshot, write_snapshot

    shapes = quick_shapes() if args.quick else gpt2_medium_shapes()
    mesh = Mesh(np.array(jax.devices()), ("a",))
    n = jax.device_count()
    shardings = {k: NamedSharding(mesh, P(*layout(k, s, n, False))) for k, s in shapes.items()}
    targets = {k: NamedSharding(mesh, P(*layout(k, s, n, True))) for k, s in shapes.items()}
    if args.nprocs > 1:
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{args.tport}",
            rank=args.pid,
            world_size=args.nprocs,
        )
        tmesh = init_device_mesh("cpu", (args.nprocs,))
    rank, ranks = jax.process_index(), jax.process_count()

    def local_part(name: str, shape: tuple[int, ...]) -> tuple[int | None, tuple[slice, ...]]:
        """The split axis of a variable and the index of this process's part (its devices')."""
        spec = layout(name, shape, n, False)
        if "a" not in spec:
            return None, tuple(slice(None) for _ in shape)
        axis = spec.index("a")
        step = shape[axis] // ranks
        index = [slice(None)] * len(shape)
        index[axis] = slice(rank * step, (rank + 1) * step)
        return axis, tuple(index)

    def torch_tensor(name: str, shape: tuple[int, ...], local: torch.Tensor) -> Any:
        if ranks == 1:
            return local
        axis, _ = local_part(name, shape)
        stride = tuple(int(np.prod(shape[i + 1 :])) for i in range(len(shape)))
        return DTensor.from_local(
            local,
            tmesh,
            [Replicate() if axis is None else Shard(axis)],
            run_check=False,
            shape=torch.Size(shape),
            stride=stride,
        )

    rng = np.random.default_rng(0)
    arrays = {}
    tensors = {}
    for name, shape in shapes.items():
        host = rng.random(shape, dtype=np.float32)
        arrays[name] = jax.make_array_from_callback(shape, shardings[name], lambda i, h=host: h[i])
        local = torch.from_numpy(np.ascontiguousarray(host[local_part(name, shape)[1]]))
        tensors[name] = torch_tensor(name, shape, local)
    del host
    nbytes = sum(int(np.prod(s)) * 4 for s in shapes.values())
    work = Path(args.work)
    lead = jax.process_index() == 0
    times: dict[str, list[float]] = {}
    read: dict[str, list[int]] = {}
    systems = set(args.systems.split(",")) | {"fs"}

    def timed(label: str, op: Any, path: Path) -> None:
        barrier(f"bench-{label}-start")
        before = rchar()
        start = time.perf_counter()
        op(path)
        read.setdefault(label, []).append(rchar() - before)
        barrier(f"bench-{label}-end")
        times.setdefault(label, []).append(time.perf_counter() - start)

    def fs_save(path: Path) -> None:
        flow.checkpoint.save(path, arrays, durable=False)

    def gather_save(path: Path) -> None:
        if args.nprocs > 1:
            host = {k: multihost_utils.process_allgather(v, tiled=True) for k, v in arrays.items()}
        else:
            host = {k: np.asarray(v) for k, v in arrays.items()}
        if lead:
            write_snapshot(path, host, durable=False)

    checkpointer = ocp.StandardCheckpointer()

    def orbax_save(path: Path) -> None:
        checkpointer.save(path, arrays)
        checkpointer.wait_until_finished()

    def dcp_save(path: Path, sync: bool = True) -> None:
        dcp.save(tensors, storage_writer=dcp.FileSystemWriter(path, sync_files=sync))

    loaded: dict[str, Any] = {}

    def dcp_load(path: Path) -> None:
        out = {}
        for name, shape in shapes.items():
            index = local_part(name, shape)[1]
            local_shape = np.empty(shape, dtype=np.bool_)[index].shape  # no memory is touched
            out[name] = torch_tensor(name, shape, torch.empty(local_shape, dtype=torch.float32))
        dcp.load(out, storage_reader=dcp.FileSystemReader(path))
        loaded.clear()
        loaded.update(out)

    disk: dict[str, tuple[int, int, int]] = {}

    def on_disk(label: str, path: Path) -> None:
        files = size = blocks = 0
        for root, _, names in os.walk(path):
            for fname in names:
                st = os.stat(os.path.join(root, fname))
                files, size, blocks = files + 1, size + st.st_size, blocks + st.st_blocks * 512
        disk[label] = (files, size, blocks)

    def fs_load(path: Path, where: dict[str, Any]) -> None:
        snap = open_snapshot(path)
        out = {k: load_sharded(snap[k], where[k], np.dtype(np.float32)) for k in shapes}
        jax.block_until_ready(out)

    def whole_load(path: Path) -> None:
        snap = open_snapshot(path)
        out = {}
        for k in shapes:
            host = snap[k].numpy()
            out[k] = jax.make_array_from_callback(host.shape, shardings[k], lambda i, h=host: h[i])
        jax.block_until_ready(out)

    def orbax_load(path: Path) -> None:
        abstract = {
            k: jax.ShapeDtypeStruct(s, np.float32, sharding=shardings[k]) for k, s in shapes.items()
        }
        out = checkpointer.restore(path, abstract)
        jax.block_until_ready(out)

    for r in range(args.reps):
        paths = {s: work / f"{s}-{r}" for s in ("fs", "gather", "orbax", "dcp", "dcp-nosync")}
        timed("save: flowsnap sharded", fs_save, paths["fs"])
        if "gather" in systems:
            timed("save: gather + flowsnap", gather_save, paths["gather"])
        if "orbax" in systems:
            timed("save: orbax", orbax_save, paths["orbax"])
        if "dcp" in systems:
            timed("save: dcp", dcp_save, paths["dcp"])
            timed("save: dcp, sync_files=False", lambda p: dcp_save(p, False), paths["dcp-nosync"])
        barrier("bench-disk")
        if lead:  # the saves' dirty pages go to disk before the loads, outside the clock: the
            os.sync()  # first load timed would otherwise compete with their writeback
        if r == 0 and lead:
            for key, label in (
                ("fs", "flowsnap sharded"),
                ("gather", "gather + flowsnap"),
                ("orbax", "orbax"),
                ("dcp", "dcp"),
            ):
                if paths[key].exists():
                    on_disk(label, paths[key])
        barrier("bench-disk-done")
        loads: list[tuple[str, Any, Path]] = [
            ("load: flowsnap sharded", lambda p: fs_load(p, shardings), paths["fs"]),
            ("load: flowsnap reshard", lambda p: fs_load(p, targets), paths["fs"]),
        ]
        if "gather" in systems:
            loads.append(("load: read whole + slice", whole_load, paths["gather"]))
        if "orbax" in systems:
            loads.append(("load: orbax", orbax_load, paths["orbax"]))
        if "dcp" in systems:
            loads.append(("load: dcp", dcp_load, paths["dcp"]))
        # the first load after the saves runs slower (measured: flowsnap's same-layout load took
        # about twice as long first as in a loop of loads alone), so the order rotates by round
        shift = r % len(loads)
        for label, op, path in loads[shift:] + loads[:shift]:
            timed(label, op, path)
        if r == 0 and "dcp" in systems:  # the values came back (outside the clock)
            for name in shapes:
                got, want = loaded[name], tensors[name]
                got = got.to_local() if isinstance(got, DTensor) else got
                want = want.to_local() if isinstance(want, DTensor) else want
                if not torch.equal(got, want):
                    raise RuntimeError(f"dcp load: {name} differs from what was saved")
        barrier("bench-cleanup")
        if lead:
            for path in paths.values():
                shutil.rmtree(path, ignore_errors=True)
        barrier("bench-cleaned")
    if lead:
        result = {
            "nbytes": nbytes,
            "tensors": len(shapes),
            "devices": n,
            "times": times,
            "read": read,
            "disk": disk,
        }
        print("RESULT " + json.dumps(result), flush=True)
    if args.nprocs > 1:
        dist.destroy_process_group()
        jax.distributed.shutdown()  # no process leaves before the others are done
    os._exit(0)


def rchar() -> int:
    """Bytes this process has read so far through read system calls (``/proc/self/io``), or 0
    where there is no such file."""
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_config(nprocs: int, devices: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    port, tport = str(free_port()), str(free_port())
    extra = ["--quick"] if args.quick else []
    extra += ["--systems", args.systems]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                "--pid",
                str(i),
                "--nprocs",
                str(nprocs),
                "--port",
                port,
                "--tport",
                tport,
                "--work",
                str(work),
                "--reps",
                str(args.reps),
                *extra,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(nprocs)
    ]
    outputs = [p.communicate(timeout=3600) for p in procs]
    for out, _ in outputs:
        for line in out.splitlines():
            if line.startswith("RESULT "):
                result: dict[str, Any] = json.loads(line[7:])
                return result
    raise RuntimeError(f"no result: {outputs[0][1][-4000:]}")


def table(title: str, result: dict[str, Any]) -> str:
    gb = result["nbytes"] / 1e9
    lines = [
        f"### {title}: {result['tensors']} tensors, {gb:.2f} GB, {result['devices']} devices",
        "",
        "| operation | median s | min-max s | GB/s | vs flowsnap sharded | MB read by process 0 |",
        "|---|---|---|---|---|---|",
    ]
    med = {k: statistics.median(v) for k, v in result["times"].items()}
    for label, values in result["times"].items():
        base = med[
            "save: flowsnap sharded" if label.startswith("save") else "load: flowsnap sharded"
        ]
        lines.append(
            f"| {label} | {med[label]:.3f} | {min(values):.3f}-{max(values):.3f} | "
            f"{gb / med[label]:.2f} | {med[label] / base:.2f}x | "
            f"{statistics.median(result['read'][label]) / 1e6:.1f} |"
        )
    lines += ["", "| save | files | MB (sizes) | MB on disk (blocks) |", "|---|---|---|---|"]
    for label, (files, size, blocks) in result["disk"].items():
        lines.append(f"| {label} | {files} | {size / 1e6:.1f} | {blocks / 1e6:.1f} |")
    return "\n".join(lines)


def micro() -> str:
    """XXH3 rate, shared-slab run writes (pwrite per run into the page cache) and manifest bytes
    per chunk: the inputs of docs/SCALE.md's estimates."""
    from flowsnap.format import data_type_for
    from flowsnap.format._manifest import Manifest, ManifestEntry, encode_manifest
    from flowsnap.format.internals import new_hasher

    data = np.random.default_rng(0).integers(0, 255, 256 * 2**20, dtype=np.uint8)
    best = []
    for _ in range(3):
        start = time.perf_counter()
        hasher = new_hasher()
        hasher.update(memoryview(data))
        hasher.hexdigest()
        best.append(time.perf_counter() - start)
    lines = [f"- XXH3-64 of 256 MiB in memory: {data.nbytes / min(best) / 1e9:.1f} GB/s (one core)"]
    total = 64 * 2**20
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        path = os.path.join(tmp, "runs")
        for run in (1024, 4096, 65536):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
            os.ftruncate(fd, 2 * total)
            view = memoryview(data[:total])
            start = time.perf_counter()
            for i in range(total // run):  # every other run, as two writers interleave
                os.pwrite(fd, view[i * run : (i + 1) * run], 2 * i * run)
            took = time.perf_counter() - start
            os.close(fd)
            lines.append(
                f"- pwrite of {run}-byte runs (strided, page cache): "
                f"{total / took / 1e9:.2f} GB/s, {took / (total // run) * 1e6:.1f} us per run"
            )
    chunks = tuple((i * 2**24, 2**24, "0123456789abcdef") for i in range(1000))
    entry = ManifestEntry(data_type_for(np.float32), (1000, 2**22), 1000 * 2**24, "", True, chunks)
    size = len(encode_manifest(Manifest(variables={"v": entry})))
    lines.append(f"- manifest: {size / 1000:.1f} bytes of JSON per 16 MiB chunk")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the 80 MB model, one round")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--micro", action="store_true", help="only the micro-measurements")
    parser.add_argument(
        "--systems",
        default="fs,gather,orbax,dcp",
        help="comma-separated: fs (always), gather, orbax, dcp (default: all)",
    )
    parser.add_argument(
        "--configs", choices=["1", "2", "both"], default="both", help="1 or 2 processes, or both"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pid", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--nprocs", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tport", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--work", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.micro:
        print(micro())
        return
    if args.quick:
        args.reps = 1
    import jax
    import orbax.checkpoint
    import torch

    import flowsnap

    print(
        f"Machine: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}, JAX {jax.__version__}, "
        f"Orbax {orbax.checkpoint.__version__}, torch {torch.__version__}, "
        f"NumPy {np.__version__}; flowsnap from {Path(flowsnap.__file__).parent}; "
        "load average before "
        f"{os.getloadavg()[0]:.1f}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    work = Path(tempfile.mkdtemp(prefix="bench-sharded-", dir=os.environ.get("BENCH_DIR")))
    try:
        for title, nprocs, devices in (
            ("4 devices, 1 process", 1, 4),
            ("2 processes x 2 devices", 2, 2),
        ):
            if args.configs != "both" and int(args.configs) != nprocs:
                continue
            print()
            print(table(title, run_config(nprocs, devices, args, work)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nload average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
