"""Checkpoints of real models with their optimizer slots, and how save/load time grows.

Run: ``make bench`` (everything) or ``.venv/bin/python benchmarks/bench_models.py [--quick]``.

Three parts, each measurement in a fresh child process (imports and data generation not timed;
the same page-cache warm-up and memory prefault as ``bench_format.py``, and an ``os.sync()``
before each timed operation so none pays for the write-back of the one before):

* ``models``: ResNet-50 with SGD-momentum slots and BERT-base with Adam slots, under OneFlow's
  names (``Resnet-res2_0_branch2a-weight`` + ``-momentum``; ``bert-encoder-layer_0-...-weight`` +
  ``-m``, ``-v``; batch-norm moving statistics; the int64 ``System-Train-TrainStep-train_job``).
  Systems: flowsnap (non-durable, durable, async from JAX arrays: blocking and total time),
  ``torch.save``/``torch.load``, ``safetensors.numpy``, Orbax ``StandardCheckpointer`` (async:
  blocking and total), each peer also with an ``fsync`` of what it wrote ("durable"), and the raw
  limits (one sequential write/read of the same bytes, and write + fsync).
* ``size``: equal 16 MiB float32 tensors, 100 MB up to 8 GB (capped to what this machine's free
  memory and disk hold, printed), flowsnap vs safetensors, torch and the raw limit.
* ``count``: 100 MB split into 100 up to 100,000 variables.

``--quick`` runs one round of a reduced set (ResNet-50, two sizes, two counts) in about a minute.
The curves are drawn into ``model_size.png`` and ``variable_count.png`` (``--plots DIR``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_format import peak_bytes, prefault, reset_peak, rss_bytes, touch, warm_up  # noqa: E402

GB = 1e9
MiB = 2**20
Shapes = dict[str, tuple[tuple[int, ...], str]]  # name -> (shape, dtype name)
TRAIN_STEP = "System-Train-TrainStep-train_job"

# -- the models -------------------------------------------------------------------------------


def resnet50() -> Shapes:
    """ResNet-50 as OneFlow's model zoo named it, with SGD momentum slots (25.6 M parameters)."""
    params: Shapes = {}
    stats: Shapes = {}

    def conv_bn(name: str, cin: int, cout: int, k: int) -> None:
        params[f"Resnet-{name}-weight"] = ((cout, cin, k, k), "float32")
        for part in ("beta", "gamma"):
            params[f"Resnet-{name}_bn-{part}"] = ((cout,), "float32")
        for part in ("moving_mean", "moving_variance"):
            stats[f"Resnet-{name}_bn-{part}"] = ((cout,), "float32")

    conv_bn("conv1", 3, 64, 7)
    cin = 64
    for stage, (count, filters, inner) in enumerate(
        zip((3, 4, 6, 3), (256, 512, 1024, 2048), (64, 128, 256, 512), strict=True)
    ):
        for i in range(count):
            name = f"res{stage + 2}_{i}"
            if i == 0:
                conv_bn(name + "_branch1", cin, filters, 1)
            conv_bn(name + "_branch2a", cin, inner, 1)
            conv_bn(name + "_branch2b", inner, inner, 3)
            conv_bn(name + "_branch2c", inner, filters, 1)
            cin = filters
    params["Resnet-fc1001-weight"] = ((1000, 2048), "float32")
    params["Resnet-fc1001-bias"] = ((1000,), "float32")
    slots = {f"{k}-momentum": v for k, v in params.items()}
    return {**params, **stats, **slots, TRAIN_STEP: ((1,), "int64")}


def bert_base() -> Shapes:
    """BERT-base (12 x 768, vocab 30522) as OneFlow's zoo named it, with Adam's m and v."""
    h, inter = 768, 3072
    params: Shapes = {
        "bert-embeddings-word_embeddings": ((30522, h), "float32"),
        "bert-embeddings-token_type_embeddings": ((2, h), "float32"),
        "bert-embeddings-position_embeddings": ((1, 512, h), "float32"),
    }

    def dense(name: str, n_in: int, n_out: int) -> None:
        params[name + "-weight"] = ((n_in, n_out), "float32")
        params[name + "-bias"] = ((n_out,), "float32")

    def norm(name: str) -> None:
        params[name + "-LayerNorm-beta"] = ((h,), "float32")
        params[name + "-LayerNorm-gamma"] = ((h,), "float32")

    norm("bert-embeddings")
    for i in range(12):
        pre = f"bert-encoder-layer_{i}-"
        for part in ("query", "key", "value"):
            dense(pre + "attention-self-" + part, h, h)
        dense(pre + "attention-output-dense", h, h)
        norm(pre + "attention-output")
        dense(pre + "intermediate-dense", h, inter)
        dense(pre + "output-dense", inter, h)
        norm(pre + "output")
    dense("bert-pooler-dense", h, h)
    dense("cls-predictions-transform-dense", h, h)
    norm("cls-predictions-transform")
    params["cls-predictions-output_bias"] = ((30522,), "float32")
    slots = {f"{k}-{s}": v for k, v in params.items() for s in ("m", "v")}
    return {**params, **slots, TRAIN_STEP: ((1,), "int64")}


def equal_tensors(nbytes: int, count: int) -> Shapes:
    """``count`` float32 tensors of equal size, ``nbytes`` in all."""
    each = max(1, nbytes // 4 // count)
    return {f"var{i:06d}": ((each,), "float32") for i in range(count)}


def build(shapes: Shapes) -> dict[str, np.ndarray]:
    """Arrays of those shapes holding random bytes (a random 16 MiB block tiled: fast to make)."""
    block = np.random.default_rng(0).integers(0, 2**32, 4 * MiB, dtype=np.uint32)
    block = block & np.uint32(0x3F7FFFFF)  # finite floats
    out: dict[str, np.ndarray] = {}
    for name, (shape, dtype) in shapes.items():
        a = np.empty(shape, dtype)
        flat = a.reshape(-1).view(np.uint8)
        src = block.view(np.uint8)
        for off in range(0, flat.size, src.size):
            n = min(src.size, flat.size - off)
            flat[off : off + n] = src[:n]
        out[name] = a
    return out


def nbytes_of(shapes: Shapes) -> int:
    return sum(math.prod(s) * np.dtype(d).itemsize for s, d in shapes.values())


def shapes_for(spec: str) -> Shapes:
    """``resnet50``, ``bert``, ``size:<bytes>`` or ``count:<n>`` (100 MB in n variables)."""
    if spec == "resnet50":
        return resnet50()
    if spec == "bert":
        return bert_base()
    kind, _, value = spec.partition(":")
    if kind == "size":
        return equal_tensors(int(value), max(1, int(value) // (16 * MiB)))
    if kind == "count":
        return equal_tensors(100 * 10**6, int(value))
    raise ValueError(spec)


# -- the operations (in a child) ----------------------------------------------------------------


def fsync_path(path: Path) -> None:
    """Make what a peer wrote durable: fsync every file under ``path`` and the directories."""
    targets = [path] if path.is_file() else [*path.rglob("*"), path]
    for p in [*targets, path.parent]:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save(system: str, model: dict[str, Any], path: Path) -> float | None:
    """Save; return the blocking time of an asynchronous save (None for synchronous ones)."""
    base, _, variant = system.partition("-")
    if system in ("flowsnap", "flowsnap-durable"):
        from flowsnap.format import write_snapshot

        write_snapshot(path, model, durable=variant == "durable", progress=False)
    elif system == "flowsnap-async":
        import flowsnap.checkpoint

        t0 = time.perf_counter()
        handle = flowsnap.checkpoint.save(path, model, durable=False, blocking=False)
        blocking = time.perf_counter() - t0
        handle.wait()
        return blocking
    elif base == "safetensors":
        from safetensors.numpy import save_file

        save_file(model, str(path))
    elif base == "torch":
        import torch

        torch.save({k: torch.from_numpy(v) for k, v in model.items()}, str(path))
    elif base == "orbax":
        import orbax.checkpoint as ocp

        ckptr = ocp.StandardCheckpointer()
        t0 = time.perf_counter()
        ckptr.save(path.absolute(), model)
        blocking = time.perf_counter() - t0
        ckptr.wait_until_finished()
        ckptr.close()
        return blocking
    elif base == "raw":
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        for v in model.values():
            view = memoryview(v.reshape(-1).view(np.uint8))
            while view:
                view = view[os.write(fd, view) :]
        if variant == "durable":
            os.fsync(fd)
        os.close(fd)
        return None
    else:
        raise ValueError(system)
    if variant == "durable" and base != "flowsnap":
        fsync_path(path)
    return None


def load(system: str, shapes: Shapes, path: Path) -> dict[str, Any]:
    base = system.partition("-")[0]
    if system == "flowsnap":
        from flowsnap.format import read_snapshot

        return read_snapshot(path, progress=False)
    if system == "flowsnap-iter":
        from flowsnap.format import open_snapshot

        return {k: v.numpy() for k, v in open_snapshot(path).items()}
    if base == "safetensors":
        from safetensors.numpy import load_file

        return load_file(str(path))
    if base == "torch":
        import torch

        return torch.load(str(path), weights_only=True)  # type: ignore[no-any-return]
    if base == "orbax":
        import orbax.checkpoint as ocp

        ckptr = ocp.StandardCheckpointer()
        restored = ckptr.restore(path.absolute())
        ckptr.close()
        return dict(restored)
    if base == "raw":
        out: dict[str, np.ndarray] = {}
        with open(path, "rb", buffering=0) as f:
            for k, (s, d) in shapes.items():
                a = np.empty(s, d)
                f.readinto(memoryview(a.reshape(-1).view(np.uint8)))
                out[k] = a
        return out
    raise ValueError(system)


IMPORTS = {
    "flowsnap": "flowsnap.format",
    "flowsnap-async": "flowsnap.checkpoint",
    "safetensors": "safetensors.numpy",
    "torch": "torch",
    "orbax": "orbax.checkpoint",
}


def safe_prefault(nbytes: int) -> int:
    """As much of ``nbytes`` as leaves 3 GB of this machine's memory free (it is shared)."""
    return max(0, min(nbytes, memory_available() - 3 * 2**30))


def settle() -> None:
    """Write back what earlier operations left dirty (any system's), so that no timed operation
    pays for the one before it: the kernel's write-back of a previous save (or the journal work
    of deleting its files) otherwise throttles whichever save runs next, and by 2-7x on this
    machine for a 1.3 GB model."""
    os.sync()


def child(system: str, op: str, spec: str, path: Path) -> dict[str, Any]:
    module = IMPORTS.get(system) or IMPORTS.get(system.partition("-")[0])
    if module:
        __import__(module)
    if system == "flowsnap-async":
        import flowsnap.checkpoint

        assert flowsnap.checkpoint.save  # bound on first use
    shapes = shapes_for(spec)
    nbytes = nbytes_of(shapes)
    factor = 3 if system.startswith(("orbax", "safetensors")) or system.endswith("async") else 2
    result: dict[str, Any] = {"nbytes": nbytes, "nvars": len(shapes)}
    if op == "save":
        model: dict[str, Any] = build(shapes)
        if system in ("flowsnap-async", "orbax", "orbax-durable"):
            import jax  # live training values: JAX arrays

            model = {k: jax.device_put(v) for k, v in model.items()}
            jax.block_until_ready(model)
        prefault(safe_prefault(factor * nbytes))
        settle()
        before = rss_bytes()
        reset_peak()
        start = time.perf_counter()
        blocking = save(system, model, path)
        result["seconds"] = time.perf_counter() - start
        if blocking is not None:
            result["blocking"] = blocking
    else:
        prefault(safe_prefault(factor * nbytes))
        settle()
        before = rss_bytes()
        reset_peak()
        start = time.perf_counter()
        loaded = load(system, shapes, path)
        touch(loaded)
        result["seconds"] = time.perf_counter() - start
        if len(loaded) != len(shapes):
            raise RuntimeError(f"{system} loaded {len(loaded)} of {len(shapes)} variables")
    result["extra_bytes"] = max(0, peak_bytes() - before)
    return result


# -- the driver -----------------------------------------------------------------------------------

# system -> (saves, loads with): load "flowsnap-iter" reads the flowsnap save of the same round.
MODEL_SYSTEMS = [
    "flowsnap",
    "flowsnap-durable",
    "flowsnap-async",
    "safetensors",
    "safetensors-durable",
    "torch",
    "torch-durable",
    "orbax",
    "raw",
    "raw-durable",
]
CURVE_SYSTEMS = ["flowsnap", "flowsnap-durable", "safetensors", "torch", "orbax", "raw"]
QUICK_SYSTEMS = ["flowsnap", "flowsnap-durable", "flowsnap-async", "safetensors", "torch", "raw"]
LOADED = {"flowsnap", "safetensors", "torch", "orbax", "raw"}  # the others load like these


def run_child(system: str, op: str, spec: str, path: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", system, op, spec, str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{system} {op} {spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def available(system: str) -> bool:
    module = {"safetensors": "safetensors", "torch": "torch", "orbax": "orbax.checkpoint"}.get(
        system.partition("-")[0]
    )
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def measure(
    spec: str, systems: list[str], rounds: int, work: Path
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``{system: {"save": [...], "load": [...]}}``, rounds round-robin over the systems."""
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        s: {"save": [], "load": []} for s in systems
    }
    if "flowsnap" in systems:
        results["flowsnap-iter"] = {"save": [], "load": []}
    for _ in range(rounds):
        for system in systems:
            path = work / f"{system}-{spec.replace(':', '_')}"
            remove(path)
            results[system]["save"].append(run_child(system, "save", spec, path))
            if system in LOADED:
                results[system]["load"].append(run_child(system, "load", spec, path))
                if system == "flowsnap":
                    results["flowsnap-iter"]["load"].append(
                        run_child("flowsnap-iter", "load", spec, path)
                    )
            remove(path)
    return results


def med(runs: list[dict[str, Any]], key: str = "seconds") -> float | None:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def spread(runs: list[dict[str, Any]], key: str = "seconds") -> str:
    values = [r[key] for r in runs if key in r]
    if not values:
        return ""
    m = statistics.median(values)
    if len(values) == 1:
        return f"{m:.3f}"
    return f"{m:.3f} ({min(values):.3f}-{max(values):.3f})"


def model_table(spec: str, results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    first = next(r for r in results.values() if r["save"])["save"][0]
    nbytes, nvars = first["nbytes"], first["nvars"]
    lines = [
        f"#### {spec}: {nvars} variables, {nbytes / GB:.3f} GB",
        "",
        "| system | save s, median (min-max) | save GB/s | async blocking s | load s | load GB/s "
        "| load extra MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for system, ops in results.items():
        s, lo = med(ops["save"]), med(ops["load"])
        lines.append(
            "| "
            + " | ".join(
                [
                    system,
                    spread(ops["save"]),
                    f"{nbytes / s / GB:.2f}" if s else "",
                    spread(ops["save"], "blocking"),
                    spread(ops["load"]),
                    f"{nbytes / lo / GB:.2f}" if lo else "",
                    f"{max(r['extra_bytes'] for r in ops['load']) / MiB:.0f}" if lo else "",
                ]
            )
            + " |"
        )
    lines += ["", "Ratios (time of the other / time of flowsnap; > 1: flowsnap is faster):"]

    def ratio(label: str, ours: tuple[str, str, str], theirs: tuple[str, str, str]) -> None:
        a_runs = results.get(ours[0], {}).get(ours[1], [])
        b_runs = results.get(theirs[0], {}).get(theirs[1], [])
        a, b = med(a_runs, ours[2]), med(b_runs, theirs[2])
        if a and b:
            lines.append(f"- {label}: **{b / a:.2f}x**")

    for peer in ("safetensors", "torch", "orbax", "raw"):
        ratio(f"save vs {peer}", ("flowsnap", "save", "seconds"), (peer, "save", "seconds"))
    for peer in ("safetensors-durable", "torch-durable", "raw-durable"):
        ratio(
            f"durable save vs {peer}",
            ("flowsnap-durable", "save", "seconds"),
            (peer, "save", "seconds"),
        )
    ratio(
        "async blocking vs Orbax async blocking",
        ("flowsnap-async", "save", "blocking"),
        ("orbax", "save", "blocking"),
    )
    ratio(
        "async blocking vs the synchronous save",
        ("flowsnap-async", "save", "blocking"),
        ("flowsnap", "save", "seconds"),
    )
    for peer in ("safetensors", "torch", "orbax", "raw"):
        ratio(f"load vs {peer}", ("flowsnap", "load", "seconds"), (peer, "load", "seconds"))
        ratio(
            f"load by iteration (.numpy() each) vs {peer}",
            ("flowsnap-iter", "load", "seconds"),
            (peer, "load", "seconds"),
        )
    return "\n".join(lines) + "\n"


def curve_table(title: str, axis: str, points: dict[str, Any]) -> str:
    systems = sorted({s for r in points.values() for s in r}, key=CURVE_ORDER.index)
    columns = [
        (s, op)
        for s in systems
        for op in ("save", "load")
        if any(r.get(s, {}).get(op) for r in points.values())
    ]
    lines = [
        f"#### {title}",
        "",
        f"| {axis} | " + " | ".join(f"{s} {op} s" for s, op in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for label, results in points.items():
        cells = [spread(results.get(s, {}).get(op, [])) for s, op in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


CURVE_ORDER = [*CURVE_SYSTEMS, "flowsnap-iter"]


def plot(points: dict[str, Any], xs: dict[str, float], xlabel: str, title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    systems = sorted({s for r in points.values() for s in r}, key=CURVE_ORDER.index)
    for ax, op in zip(axes, ("save", "load"), strict=True):
        for system in systems:
            x, y = [], []
            for label, results in points.items():
                m = med(results.get(system, {}).get(op, []))
                if m is not None:
                    x.append(xs[label])
                    y.append(m)
            if x:
                color = f"C{CURVE_ORDER.index(system)}"  # one color per system in both panels
                ax.plot(x, y, marker="o", label=system, color=color)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{op} time, s (median)")
        ax.set_title(f"{op}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def replot(everything: dict[str, Any], where: Path) -> None:
    """Draw the curves of a finished run (its ``--json`` file) again."""
    if "size" in everything:
        points = everything["size"]
        plot(
            points,
            {label: float(label.split()[0]) for label in points},
            "model size, GB (16 MiB float32 tensors)",
            "Save/load time against model size (median of rounds)",
            where / "model_size.png",
        )
    if "count" in everything:
        points = everything["count"]
        plot(
            points,
            {label: int(label.replace(",", "")) for label in points},
            "variables (100 MB in all)",
            "Save/load time against variable count (median of rounds)",
            where / "variable_count.png",
        )


def memory_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="one round, reduced set (~1 min)")
    parser.add_argument("--parts", default="models,size,count")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-gb", type=float, default=8.0, help="largest model of the size curve")
    parser.add_argument("--work", default=str(HERE / "_work"))
    parser.add_argument("--plots", default=str(HERE), help="where the PNG curves go")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--replot", metavar="JSON", help="only draw the curves of a --json file")
    args = parser.parse_args()
    if args.replot:
        Path(args.plots).mkdir(parents=True, exist_ok=True)
        replot(json.loads(Path(args.replot).read_text()), Path(args.plots))
        return
    if args.child:
        system, op, spec, path = args.child
        print(json.dumps(child(system, op, spec, Path(path))))
        return

    rounds = 1 if args.quick else args.rounds
    Path(args.plots).mkdir(parents=True, exist_ok=True)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    versions = [f"NumPy {np.__version__}"]
    for name in ("jax", "safetensors", "torch", "orbax.checkpoint"):
        try:
            versions.append(f"{name} {importlib.import_module(name).__version__}")
        except (ImportError, AttributeError):
            versions.append(f"{name} (not installed)")
    avail, disk = memory_available(), shutil.disk_usage(work).free
    print(
        f"# flowsnap model checkpoints - {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {avail / GB:.1f} GB memory available, {disk / GB:.0f} GB disk "
        f"free, Python {platform.python_version()}, {', '.join(versions)}; rounds: {rounds}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    everything: dict[str, Any] = {}
    parts = args.parts.split(",")
    warm_up(work, min(2 * 10**9, avail // 4))

    if "models" in parts:
        systems = [s for s in (QUICK_SYSTEMS if args.quick else MODEL_SYSTEMS) if available(s)]
        for spec in ["resnet50"] if args.quick else ["resnet50", "bert"]:
            results = measure(spec, systems, rounds, work)
            print(model_table(spec, results), flush=True)
            everything[spec] = results

    if "size" in parts:
        sizes = [0.1, 0.25] if args.quick else [0.1, 0.3, 1, 3, 6, 8]
        # A save holds the model and, for safetensors, one serialized copy of it; a load holds
        # the arrays (and safetensors its file's bytes for a moment). The page cache the files
        # fill is reclaimable, so keep 2x the size + 4 GB within the memory available (shared).
        fits = [g for g in sizes if g <= args.max_gb and 2 * g * GB + 4 * GB <= avail]
        fits = [g for g in fits if 2 * g * GB + 5 * GB <= disk]
        curve = ["flowsnap", "safetensors", "raw"] if args.quick else CURVE_SYSTEMS
        if fits != sizes:
            print(
                f"size curve capped at {max(fits)} GB (memory available {avail / GB:.1f} GB, "
                f"disk free {disk / GB:.0f} GB, --max-gb {args.max_gb})"
            )
        points: dict[str, Any] = {}
        for g in fits:
            systems = [s for s in curve if available(s)]
            if g > 1:  # Orbax needs ~3x the model in memory and minutes at these sizes
                systems = [s for s in systems if s != "orbax"]
            n = rounds if g <= 1 else 1  # the largest: one round (minutes each)
            points[f"{g:g} GB"] = measure(f"size:{int(g * GB)}", systems, n, work)
            print(f"  size {g:g} GB done", file=sys.stderr, flush=True)
        print(curve_table("save/load time against model size", "model size", points), flush=True)
        plot(
            points,
            {f"{g:g} GB": g for g in fits},
            "model size, GB (16 MiB float32 tensors)",
            "Save/load time against model size (median of rounds)",
            Path(args.plots) / "model_size.png",
        )
        everything["size"] = points

    if "count" in parts:
        counts = [100, 1000] if args.quick else [100, 1000, 10_000, 100_000]
        curve = ["flowsnap", "safetensors", "raw"] if args.quick else CURVE_SYSTEMS
        points = {}
        for n in counts:
            systems = [s for s in curve if available(s)]
            if n > 1000:  # Orbax and flowsnap's durable save (an fsync per file): minutes
                systems = [s for s in systems if s not in ("orbax", "flowsnap-durable")]
            points[f"{n:,}"] = measure(f"count:{n}", systems, 1 if n > 10_000 else rounds, work)
            print(f"  count {n} done", file=sys.stderr, flush=True)
        print(
            curve_table(
                "save/load time against variable count (100 MB in all)", "variables", points
            ),
            flush=True,
        )
        plot(
            points,
            {f"{n:,}": n for n in counts},
            "variables (100 MB in all)",
            "Save/load time against variable count (median of rounds)",
            Path(args.plots) / "variable_count.png",
        )
        everything["count"] = points

    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
