"""Save/load benchmark of the checkpoint format against its peers and the machine's limits.

Run: ``make bench`` (installs the peers) or ``.venv/bin/python benchmarks/bench_format.py``.

Two models:
  * ``large``: GPT-2-medium shapes, 292 float32 tensors, 1.42 GB.
  * ``tiny``: 10,000 variables of 1 to 256 float32 values each.

Systems: flowsnap (durable and not; load verified, and mmap+verify), ``safetensors.numpy``,
``torch.save``/``torch.load`` (CPU), ``np.save``/``np.load`` (one ``.npy`` per tensor), Orbax
(StandardCheckpointer), and the limits: ``memcpy`` of the same bytes into fresh buffers, and a raw
sequential write/read of the same bytes (one file; for ``tiny``, mkdir + write of ``out``/``meta``
per variable, as the format needs).

Every measurement runs in a fresh child process that builds its own data, so peak memory is that
operation's alone: the child resets the kernel's peak-RSS counter (``/proc/self/clear_refs``) just
before the operation and reads ``VmHWM`` after it. "Extra memory" is peak RSS minus RSS before.
Load means every byte resident in memory (mmap'd arrays are touched or hashed). Loads are warm (the
files were just written and sit in the page cache) unless ``--cold``: then each checkpoint is
synced and evicted from the page cache (``posix_fadvise(DONTNEED)`` on every file) before its load,
which then reads from the disk. "load CPU s" is the loading process's user + system time (all its
threads): on a shared machine it moves less than the wall time. Peers do not fsync; flowsnap's
durable save is compared with a raw write + fsync.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
GB = 1e9
MiB = 2**20

# -- models ----------------------------------------------------------------------------------


def gpt2_medium_shapes() -> dict[str, tuple[int, ...]]:
    """GPT-2 medium: 24 layers, d=1024, vocab 50257, context 1024 (292 tensors, 355 M params)."""
    d, vocab, ctx, layers = 1024, 50257, 1024, 24
    shapes: dict[str, tuple[int, ...]] = {"wte": (vocab, d), "wpe": (ctx, d)}
    for i in range(layers):
        p = f"h{i}"
        shapes |= {
            f"{p}-ln_1-gamma": (d,),
            f"{p}-ln_1-beta": (d,),
            f"{p}-attn-c_attn-weight": (d, 3 * d),
            f"{p}-attn-c_attn-bias": (3 * d,),
            f"{p}-attn-c_proj-weight": (d, d),
            f"{p}-attn-c_proj-bias": (d,),
            f"{p}-ln_2-gamma": (d,),
            f"{p}-ln_2-beta": (d,),
            f"{p}-mlp-c_fc-weight": (d, 4 * d),
            f"{p}-mlp-c_fc-bias": (4 * d,),
            f"{p}-mlp-c_proj-weight": (4 * d, d),
            f"{p}-mlp-c_proj-bias": (d,),
        }
    shapes |= {"ln_f-gamma": (d,), "ln_f-beta": (d,)}
    return shapes


def tiny_shapes() -> dict[str, tuple[int, ...]]:
    """10,000 small variables (1 to 256 float32 values)."""
    rng = np.random.default_rng(1)
    return {f"var{i:05d}": (int(rng.integers(1, 257)),) for i in range(10_000)}


MODELS: dict[str, Callable[[], dict[str, tuple[int, ...]]]] = {
    "large": gpt2_medium_shapes,
    "tiny": tiny_shapes,
}


def make_model(kind: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {k: rng.random(s, dtype=np.float32) for k, s in MODELS[kind]().items()}


# -- memory ----------------------------------------------------------------------------------


def status_bytes(field: str) -> int:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM...), in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def rss_bytes() -> int:
    return status_bytes("VmRSS")


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_bytes() -> int:
    return status_bytes("VmHWM")


def cpu_seconds() -> float:
    """User + system CPU time of this process so far, all threads (the kernel's copies and page
    faults are system time)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the operations (run in a child) ---------------------------------------------------------


def touch(arrays: dict[str, Any]) -> None:
    """Make sure every byte is resident (reads one byte per page of every array)."""
    for a in arrays.values():
        flat = np.asarray(a).reshape(-1).view(np.uint8)
        if flat.size:
            int(flat[::4096].sum())


def save_op(system: str, model: dict[str, np.ndarray], path: Path) -> None:
    if system in ("flowsnap", "flowsnap-durable"):
        from flowsnap.format import write_snapshot

        write_snapshot(path, model, durable=system == "flowsnap-durable", progress=False)
    elif system == "safetensors":
        from safetensors.numpy import save_file

        save_file(model, str(path))
    elif system == "torch":
        import torch

        torch.save({k: torch.from_numpy(v) for k, v in model.items()}, str(path))
    elif system == "numpy":
        path.mkdir()
        for k, v in model.items():
            np.save(path / f"{k}.npy", v)
    elif system == "orbax":
        import orbax.checkpoint as ocp

        ckptr = ocp.StandardCheckpointer()
        ckptr.save(path.absolute(), model)
        ckptr.wait_until_finished()
        ckptr.close()
    elif system in ("raw", "raw-durable"):
        if len(model) > 1000:  # tiny: the format's file operations, without anything else
            path.mkdir()
            meta = b"shape {\n  dim: 1\n}\ndata_type: kFloat\n"
            for k, v in model.items():
                os.mkdir(path / k)
                with open(path / k / "out", "wb") as f:
                    f.write(memoryview(v.reshape(-1).view(np.uint8)))
                with open(path / k / "meta", "wb") as f:
                    f.write(meta)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            for v in model.values():
                view = memoryview(v.reshape(-1).view(np.uint8))
                while view:
                    view = view[os.write(fd, view) :]
            if system == "raw-durable":
                os.fsync(fd)
            os.close(fd)
    elif system == "memcpy":
        copies = {}
        for k, v in model.items():
            copies[k] = np.empty_like(v)
            np.copyto(copies[k], v)
    else:
        raise ValueError(system)


def load_op(system: str, shapes: dict[str, tuple[int, ...]], path: Path) -> dict[str, Any]:
    if system in ("flowsnap", "flowsnap-durable"):  # Snapshot.load(): parallel over variables
        from flowsnap.format import read_snapshot

        return read_snapshot(path, progress=False)
    if system == "flowsnap-iter":  # the lazy mapping, iterated as users write it
        import flowsnap.checkpoint

        return {k: v.numpy() for k, v in flowsnap.checkpoint.get(path).items()}
    if system == "flowsnap-getitem":  # one name at a time, in the model's order
        import flowsnap.checkpoint

        snap = flowsnap.checkpoint.get(path)
        return {k: snap[k].numpy() for k in shapes}
    if system == "flowsnap-load-variables":  # into a live session (set up before the clock)
        import jax

        import flowsnap as flow

        flow.load_variables(flow.checkpoint.get(path))
        # the JAX arrays themselves (touch() reads them without a copy; a Variable would be
        # copied by np.asarray, 1.4 GB that is no part of loading)
        values = {k: v.value for k, v in flow.get_all_variables().items() if k in shapes}
        jax.block_until_ready(list(values.values()))
        return values
    if system == "flowsnap-mmap":
        from flowsnap.format import open_snapshot

        snap = open_snapshot(path)
        return {k: v.mmap(verify=True) for k, v in snap.items()}
    if system == "safetensors":
        from safetensors.numpy import load_file

        return load_file(str(path))
    if system == "torch":
        import torch

        return torch.load(str(path), weights_only=True)  # type: ignore[no-any-return]
    if system == "numpy":
        return {k: np.load(path / f"{k}.npy") for k in shapes}
    if system == "orbax":
        import orbax.checkpoint as ocp

        ckptr = ocp.StandardCheckpointer()
        restored = ckptr.restore(path.absolute())
        ckptr.close()
        return dict(restored)
    if system in ("raw", "raw-durable"):
        out: dict[str, np.ndarray] = {}
        if len(shapes) > 1000:
            for k, s in shapes.items():
                a = np.empty(s, np.float32)
                with open(path / k / "out", "rb", buffering=0) as f:
                    f.readinto(memoryview(a.reshape(-1).view(np.uint8)))
                with open(path / k / "meta", "rb") as f:
                    f.read()
                out[k] = a
            return out
        with open(path, "rb", buffering=0) as f:
            for k, s in shapes.items():
                a = np.empty(s, np.float32)
                f.readinto(memoryview(a.reshape(-1).view(np.uint8)))
                out[k] = a
        return out
    raise ValueError(system)


def prefault(nbytes: int) -> None:
    """Touch and free ``nbytes`` of memory, so the kernel's free lists hold pages the host backs.

    This VM hands freed memory back to its host; faulting it in again runs at ~0.6 GB/s instead of
    ~9 GB/s and made timings swing 5x. Real machines do not do this; every system gets the same
    treatment right before its timed operation.
    """
    scratch = np.ones(nbytes, np.uint8)
    del scratch


LIBRARIES = {
    "flowsnap": "flowsnap.format",
    "flowsnap-durable": "flowsnap.format",
    "flowsnap-mmap": "flowsnap.format",
    "flowsnap-iter": "flowsnap.checkpoint",
    "flowsnap-getitem": "flowsnap.checkpoint",
    "flowsnap-load-variables": "flowsnap.checkpoint",
    "safetensors": "safetensors.numpy",
    "torch": "torch",
    "orbax": "orbax.checkpoint",
}


# Load-only ways of reading a flowsnap checkpoint (their save is flowsnap's, not reported again).
LOAD_PATHS = ("flowsnap-mmap", "flowsnap-iter", "flowsnap-getitem", "flowsnap-load-variables")


def live_session(shapes: dict[str, tuple[int, ...]]) -> None:
    """A session whose variables have these names and shapes (zeros), started."""
    import flowsnap as flow
    import flowsnap.typing as tp

    @flow.global_function()
    def declare(x: tp.Numpy.Placeholder((1,))) -> tp.Numpy:
        for name, shape in shapes.items():
            flow.get_variable(name, shape=shape, initializer=flow.zeros_initializer())
        return x

    flow.get_all_variables()


def child(system: str, op: str, kind: str, path: Path) -> dict[str, Any]:
    if system in LIBRARIES:  # import time is not part of a save or a load
        __import__(LIBRARIES[system])
    if LIBRARIES.get(system) == "flowsnap.checkpoint":  # its names are bound on first use
        import flowsnap
        import flowsnap.checkpoint

        assert flowsnap.checkpoint.get
        assert flowsnap.load_variables
    shapes = MODELS[kind]()
    nbytes = sum(int(np.prod(s)) * 4 for s in shapes.values())
    if system == "flowsnap-load-variables" and op == "load":
        live_session(shapes)  # not timed: creating and initializing the model
    if op == "save":
        model = make_model(kind)
        if system in LOAD_PATHS:
            system = "flowsnap"
        prefault(3 * nbytes if system == "orbax" else nbytes + nbytes // 2)
        before = rss_bytes()
        reset_peak()
        cpu0 = cpu_seconds()
        start = time.perf_counter()
        save_op(system, model, path)
        seconds = time.perf_counter() - start
        cpu = cpu_seconds() - cpu0
    else:
        prefault(3 * nbytes if system in ("orbax", "safetensors") else nbytes + nbytes // 2)
        before = rss_bytes()
        reset_peak()
        cpu0 = cpu_seconds()
        start = time.perf_counter()
        loaded = load_op(system, shapes, path)
        touch(loaded)
        seconds = time.perf_counter() - start
        cpu = cpu_seconds() - cpu0
        if len(loaded) != len(shapes):
            raise RuntimeError(f"{system} loaded {len(loaded)} of {len(shapes)} variables")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "extra_bytes": max(0, peak_bytes() - before),
        "nbytes": nbytes,
        "nvars": len(shapes),
    }


# -- the driver ------------------------------------------------------------------------------

SYSTEMS = [
    "flowsnap",
    "flowsnap-durable",
    "flowsnap-mmap",
    "flowsnap-iter",
    "flowsnap-getitem",
    "flowsnap-load-variables",
    "safetensors",
    "torch",
    "numpy",
    "orbax",
    "raw",
    "raw-durable",
    "memcpy",
]


def available(system: str) -> bool:
    module = {"safetensors": "safetensors", "torch": "torch", "orbax": "orbax.checkpoint"}.get(
        system
    )
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def run_child(system: str, op: str, kind: str, path: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", system, op, kind, str(path)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{system} {op} {kind} failed:\n{result.stderr[-3000:]}")
    line = result.stdout.strip().splitlines()[-1]
    return json.loads(line)  # type: ignore[no-any-return]


def warm_up(work: Path, nbytes: int) -> None:
    """Make the VM back enough memory and page cache before measuring anything.

    On a fresh virtual machine the first time memory (or page cache) grows it is faulted in from
    the host, several times slower than later; without this, whichever system runs first loses.
    """
    block = np.ones(64 * MiB, np.uint8)
    path = work / "warm-up"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for _ in range(2 * nbytes // block.nbytes + 1):
        os.write(fd, memoryview(block))
    os.close(fd)
    path.unlink()
    np.ones(3 * nbytes, np.uint8).sum()


def drop_from_cache(path: Path) -> None:
    """Write ``path`` (a file or a tree) back to disk and evict it from the page cache, so that
    the next read comes from the disk (``posix_fadvise(DONTNEED)`` per file, after a sync)."""
    os.sync()  # DONTNEED leaves dirty pages in the cache
    files = [path] if path.is_file() else [Path(r) / f for r, _, fs in os.walk(path) for f in fs]
    for name in files:
        fd = os.open(name, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def measure(
    kind: str, systems: list[str], reps: int, work: Path, *, cold: bool = False
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {s: {"save": [], "load": []} for s in systems}
    for rep in range(reps):  # round-robin, so slow drifts of the machine hit every system alike
        for system in systems:
            path = work / f"{kind}-{system}-{rep}"
            shutil.rmtree(path, ignore_errors=True)
            if path.exists():
                path.unlink()
            results[system]["save"].append(run_child(system, "save", kind, path))
            if system != "memcpy":
                if cold:
                    drop_from_cache(path)
                results[system]["load"].append(run_child(system, "load", kind, path))
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        print(f"  {kind}: round {rep + 1}/{reps} done", file=sys.stderr, flush=True)
    return results


def summarize(runs: list[dict[str, Any]]) -> dict[str, float] | None:
    if not runs:
        return None
    seconds = statistics.median(r["seconds"] for r in runs)
    return {
        "seconds": seconds,
        "cpu_seconds": statistics.median(r.get("cpu_seconds", float("nan")) for r in runs),
        "rounds": [r["seconds"] for r in runs],  # type: ignore[dict-item]
        "gbps": runs[0]["nbytes"] / seconds / GB,
        "vars_per_s": runs[0]["nvars"] / seconds,
        "extra_mib": max(r["extra_bytes"] for r in runs) / MiB,
    }


RATIOS: list[tuple[str, tuple[str, str], tuple[str, str]]] = [
    ("save, non-durable vs raw write", ("flowsnap", "save"), ("raw", "save")),
    ("save, durable vs raw write + fsync", ("flowsnap-durable", "save"), ("raw-durable", "save")),
    *[(f"save vs {p}", ("flowsnap", "save"), (p, "save")) for p in ("safetensors", "torch")],
    *[(f"save vs {p}", ("flowsnap", "save"), (p, "save")) for p in ("numpy", "orbax")],
    *[
        (f"load (verified) vs {p}", ("flowsnap", "load"), (p, "load"))
        for p in ("safetensors", "torch", "numpy", "orbax")
    ],
    *[
        (f"load, {how} vs {p}", (system, "load"), (p, "load"))
        for system, how in (
            ("flowsnap-iter", "iterating get(p).items() with .numpy()"),
            ("flowsnap-getitem", "get(p)[name].numpy() in a loop"),
            ("flowsnap-load-variables", "load_variables(get(p)) into a live session"),
            ("flowsnap-mmap", "mmap() of every variable"),
        )
        for p in ("safetensors", "torch", "raw")
    ],
    ("load (verified) vs memcpy", ("flowsnap", "load"), ("memcpy", "save")),
    ("load (mmap, verified) vs memcpy", ("flowsnap-mmap", "load"), ("memcpy", "save")),
    ("load (verified) vs raw read", ("flowsnap", "load"), ("raw", "load")),
]
TARGETS = {
    "large": {
        "save, non-durable vs raw write": ">= 0.9",
        "save vs safetensors": ">= 1",
        "load (verified) vs safetensors": ">= 1.5",
        "load (verified) vs torch": ">= 1.5",
        **{
            f"load, {how} vs {p}": ">= 1.5"
            for how in (
                "iterating get(p).items() with .numpy()",
                "get(p)[name].numpy() in a loop",
                "load_variables(get(p)) into a live session",
                "mmap() of every variable",
            )
            for p in ("safetensors", "torch")
        },
        "load (verified) vs orbax": ">= 5",
        "load (verified) vs memcpy": ">= 0.8",
    },
    "tiny": {"save, non-durable vs raw write": ">= 0.8 (raw = mkdir + write per variable)"},
}


def report(kind: str, results: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    summary = {s: {op: summarize(r[op]) for op in ("save", "load")} for s, r in results.items()}
    nbytes = next(iter(results.values()))["save"][0]["nbytes"]
    nvars = next(iter(results.values()))["save"][0]["nvars"]
    lines = [
        f"### {kind}: {nvars} variables, {nbytes / GB:.3f} GB",
        "",
        "| system | save s, median (min-max) | save GB/s | save vars/s | save extra MiB "
        "| load s, median (min-max) | load GB/s | load vars/s | load extra MiB | load CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for system, ops in summary.items():
        cells = [system]
        for op in ("save", "load"):
            m = ops[op]
            if m is None or (system in LOAD_PATHS and op == "save"):
                cells += ["", "", "", ""]
            else:
                low, high = min(m["rounds"]), max(m["rounds"])  # type: ignore[type-var]
                cells += [
                    f"{m['seconds']:.3f} ({low:.3f}-{high:.3f})",
                    f"{m['gbps']:.2f}",
                    f"{m['vars_per_s']:,.0f}",
                    f"{m['extra_mib']:.0f}",
                ]
        load = ops["load"]
        cells.append("" if load is None else f"{load['cpu_seconds']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")

    def t(system: str, op: str) -> float | None:
        m = summary.get(system, {}).get(op)
        return None if m is None else m["seconds"]

    def per_round(system: str, op: str) -> list[float]:
        m = summary.get(system, {}).get(op)
        return [] if m is None else list(m["rounds"])  # type: ignore[call-overload]

    def ratio(label: str, ours: tuple[str, str], theirs: tuple[str, str], target: str) -> None:
        a, b = t(*ours), t(*theirs)
        if a is not None and b is not None:
            pairs = [y / x for x, y in zip(per_round(*ours), per_round(*theirs), strict=False)]
            spread = f", rounds {min(pairs):.2f}-{max(pairs):.2f}" if len(pairs) > 1 else ""
            lines.append(f"- {label}: **{b / a:.2f}x**{spread} (target {target})")

    # The targets: for the large model; for tiny variables only the save rate.
    goals = TARGETS[kind]
    lines.append("Ratios (speed of flowsnap / speed of the other; > 1 means flowsnap is faster):")
    for label, ours, theirs in RATIOS:
        ratio(label, ours, theirs, goals.get(label, "-"))
    fs = summary.get("flowsnap", {})
    if fs.get("save") and fs.get("load"):
        save_mib, load_mib = fs["save"]["extra_mib"], fs["load"]["extra_mib"]  # type: ignore[index]
        lines.append(
            f"- peak extra memory: save {save_mib:.0f} MiB (target <= 64), load {load_mib:.0f} "
            f"MiB vs model {nbytes / MiB:.0f} MiB (target <= model + 64)"
        )
    lines.append("")
    return "\n".join(lines), summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs=4, metavar=("SYSTEM", "OP", "MODEL", "PATH"))
    parser.add_argument("--models", default="large,tiny")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--quick", action="store_true", help="one round of the large model, no Orbax (~1 minute)"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="evict each checkpoint from the page cache before loading it (default: warm loads)",
    )
    parser.add_argument("--work", default=str(HERE / "_work"))
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    if args.child:
        system, op, kind, path = args.child
        print(json.dumps(child(system, op, kind, Path(path))))
        return

    if args.quick:
        args.reps, args.models = 1, "large"
        args.systems = ",".join(s for s in args.systems.split(",") if s != "orbax")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    systems = [s for s in args.systems.split(",") if available(s)]
    skipped = sorted(set(args.systems.split(",")) - set(systems))
    print(
        f"# flowsnap format benchmark — {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, {'cold' if args.cold else 'warm'} loads, load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    if skipped:
        print(f"(not installed, skipped: {', '.join(skipped)})")
    everything = {}
    warm_up(work, 2 * 10**9)
    for kind in args.models.split(","):
        chosen = [
            s for s in systems if not (kind == "tiny" and s in ("orbax", "flowsnap-load-variables"))
        ]
        text, summary = report(kind, measure(kind, chosen, args.reps, work, cold=args.cold))
        print(text, flush=True)
        print(f"(load average at the end: {os.getloadavg()[0]:.2f})", flush=True)
        everything[kind] = summary
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
