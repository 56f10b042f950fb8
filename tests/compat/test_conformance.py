"""The version facades against the tables (issue #11 items 3 and 5), generated from the data.

For each OneFlow version: every provided name has exactly the table's parameters (names, order,
kinds, defaults compared after evaluation); every name in the groups a program uses is provided,
pending (reported as a skip naming each one), or on the documented not-provided list with its
reason. ``pytest -s tests/compat -k coverage`` prints the README's status table.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flowsnap.compat import (
    GROUPS,
    IDENTITY_CLASSES,
    NOT_PROVIDED,
    VERSIONS,
    SourceDefault,
    coverage,
    coverage_table,
    evaluate_default,
    get_facade,
    load_table,
    same_default,
    survey,
)
from flowsnap.compat._rules import PROTOBUF_METHODS
from flowsnap.errors import MissingOpError

ROOT = Path(__file__).parent.parent.parent
RUNTIME = ROOT / "docs" / "RUNTIME.md"
SHORT = list(VERSIONS)
KIND_OF = {"function", "class"}


def _callables(version: str) -> list[str]:
    return [
        r.name
        for r in survey(version, in_groups=False)
        if r.status in ("provided", "partial")
        and get_facade(version).table.entries[r.name].kind in KIND_OF
        and callable(r.value)  # 0.3's dtypes are classes in OneFlow, values in flowsnap
        and r.name not in IDENTITY_CLASSES  # handed out unchanged (typing, unittest.TestCase)
    ]


@pytest.mark.parametrize("version", SHORT)
def test_every_provided_name_has_exactly_the_tables_signature(version: str) -> None:
    facade = get_facade(version)
    problems = []
    for name in _callables(version):
        entry = facade.table.entries[name]
        got = list(inspect.signature(facade.get(name)).parameters.values())
        want = entry.params
        if [(p.name, p.kind) for p in got] != [(p.name, p.kind) for p in want]:
            problems.append(f"{name}: {[p.name for p in got]} != {[p.name for p in want]}")
            continue
        for have, spec in zip(got, want, strict=True):
            if spec.default is None:
                if have.default is not inspect.Parameter.empty:
                    problems.append(f"{name}({have.name}): required in OneFlow {version}")
                continue
            expected = evaluate_default(spec.default, facade.namespace)
            if not same_default(have.default, expected):
                problems.append(f"{name}({have.name}={have.default!r}): OneFlow has {expected!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("version", SHORT)
def test_defaults_evaluate_to_flowsnap_objects(version: str) -> None:
    """A default naming a flowsnap object (``flow.float32``, ``distribute.broadcast()``) is that
    object, not its source text; only OneFlow's internal helpers stay text."""
    facade = get_facade(version)
    texts = set()
    for name in _callables(version):
        for p in inspect.signature(facade.get(name)).parameters.values():
            if isinstance(p.default, SourceDefault):
                texts.add(p.default.text)
    assert texts <= {"GetVariablesForCurrentJob", "_ClearDefaultSession"}, texts
    assert facade.namespace["flow"].float32 is get_facade(version).root.float32


@pytest.mark.parametrize("version", SHORT)
def test_every_name_in_the_groups_is_accounted_for(version: str) -> None:
    statuses = {"provided", "partial", "pending", "not-provided"}
    for r in survey(version):
        assert r.status in statuses, r
        if r.status == "not-provided":
            assert NOT_PROVIDED[r.name] == r.reason
        if r.status != "provided":
            assert r.reason, r.name


def _pending_cases() -> list[tuple[str, str]]:
    return [(v, g or "<top>") for v in SHORT for g in GROUPS]


@pytest.mark.parametrize(("version", "group"), _pending_cases())
def test_pending_names(version: str, group: str) -> None:
    """Reported, not silently passed: a skip per group listing the names still pending."""
    key = "" if group == "<top>" else group
    rows = [r for r in survey(version) if (r.name.split(".")[0] if "." in r.name else "") == key]
    left = [r for r in rows if r.status in ("pending", "partial")]
    if left:
        pytest.skip(
            f"OneFlow {version} {group}: {len(left)} of {len(rows)} pending: "
            + ", ".join(r.name + ("(partial)" if r.status == "partial" else "") for r in left)
        )


@pytest.mark.parametrize("version", SHORT)
def test_missing_names_raise_missing_op_error_saying_why(version: str) -> None:
    facade = get_facade(version)
    for r in survey(version):
        if r.status in ("pending", "not-provided"):
            with pytest.raises(MissingOpError, match=re.escape(r.reason[:40])):
                facade.get(r.name)
    with pytest.raises(MissingOpError, match="not part of OneFlow"):
        facade.get("math.no_such_op")
    assert not hasattr(facade.root.math, "no_such_op")  # an AttributeError, for hasattr probes


def test_the_not_provided_list_is_documented_in_runtime_md() -> None:
    text = RUNTIME.read_text()
    section = text[text.index("## Names the facades do not provide") :]
    documented = dict(re.findall(r"^\| `([\w.]+)` \| (.+?) \|$", section, re.M))
    assert documented == NOT_PROVIDED
    every = {n for v in SHORT for n in load_table(v).entries}
    assert set(NOT_PROVIDED) <= every  # no stale entries
    # each entry needs a reason no honest implementation exists; 23 of them are OneFlow 0.4/0.5's
    # eager API (tensors, nn.init, generators), outside the lazy job API flowsnap provides
    assert len(NOT_PROVIDED) <= 60, "the not-provided list is meant to stay short"


def test_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m flowsnap.compat`` prints the README's status table (``pytest -s`` shows it)."""
    from flowsnap.compat.__main__ import main

    table = coverage_table()
    assert main([]) == 0
    assert capsys.readouterr().out.strip() == table
    assert main(["0.5"]) == 0
    assert "not-provided  ConfigProto: a protobuf message" in capsys.readouterr().out
    with capsys.disabled():
        print("\n" + table)
    for short in SHORT:
        c = coverage(short)
        assert c.provided + c.partial + c.pending + c.not_provided == c.total
        assert c.provided > 0
    readme = (ROOT / "README.md").read_text()
    assert "| OneFlow | import | provided / total |" in readme


def test_importing_the_facades_leaves_jax_out() -> None:
    """``flowsnap run`` imports them before the script; signatures need no implementation."""
    code = (
        "import sys, inspect\n"
        "from flowsnap.cli import _run\n"
        "from flowsnap.compat import get_facade\n"
        "f = get_facade('0.5'); f.module('nn'); f.signature('nn.conv2d')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_facade_classes_keep_isinstance_and_methods() -> None:
    import flowsnap

    for version in SHORT:
        flow = get_facade(version).root
        lr = flow.optimizer.PiecewiseConstantScheduler([], [0.1])
        sgd = flow.optimizer.SGD(lr, momentum=0.5)
        assert isinstance(sgd, flowsnap.optimizer.SGD)
        assert callable(sgd.minimize)
        assert isinstance(flow.FunctionConfig(), flowsnap.FunctionConfig)
        assert flow.typing.Numpy is flowsnap.typing.Numpy
        assert flow.float32 is flowsnap.float32


@pytest.mark.parametrize("version", SHORT)
def test_function_config_options(version: str) -> None:
    """Every ``FunctionConfig`` option of the version is accepted (``cfg.<option>`` resolves);
    the rest are reported as pending."""
    config = get_facade(version).root.FunctionConfig()
    missing = []
    for option in sorted(load_table(version).function_config):
        try:
            getattr(config, option.split(".")[0])
        except AttributeError:
            missing.append(option)
    if missing:
        pytest.skip(f"OneFlow {version} FunctionConfig: {len(missing)} pending: {missing}")


@pytest.mark.parametrize("version", SHORT)
def test_class_methods(version: str) -> None:
    """The public methods OneFlow's classes had (``SGD.minimize``, ``CheckPoint.load``...) exist
    on the facade's classes; those missing are reported as pending."""
    facade = get_facade(version)
    missing = []
    for r in survey(version):
        entry = facade.table.entries[r.name]
        if r.status in ("provided", "partial") and entry.kind == "class" and callable(r.value):
            missing += [
                f"{r.name}.{m}"
                for m in entry.methods
                if not hasattr(r.value, m) and not PROTOBUF_METHODS.search(m)
            ]
    if missing:
        pytest.skip(f"OneFlow {version}: {len(missing)} methods pending: {missing}")


@pytest.mark.parametrize("version", SHORT)
def test_every_default_in_the_tables_evaluates(version: str) -> None:
    """Every default of every name (provided or not) means a flowsnap value, except OneFlow's
    internal helpers, so a name that becomes provided gets OneFlow's defaults."""
    facade = get_facade(version)
    texts = {
        p.default
        for entry in facade.table.entries.values()
        for p in entry.params
        if p.default is not None
        and isinstance(evaluate_default(p.default, facade.namespace), SourceDefault)
    }
    assert texts <= {"GetVariablesForCurrentJob", "_ClearDefaultSession"}, texts


def test_the_0_4_facade_answers_names_only_0_3_had() -> None:
    """``import oneflow`` (0.4 by default) serves 0.2-0.3 programs too."""
    old_only = set(load_table("0.3").entries) - set(load_table("0.4").entries)
    assert "typing.ListListNumpy" in old_only
    flow = get_facade("0.4").root
    assert flow.typing.ListListNumpy is get_facade("0.3").root.typing.ListListNumpy
    with pytest.raises(MissingOpError, match=r"not part of OneFlow 0\.5\.0"):
        get_facade("0.5").get("typing.NoSuchPlaceholder")


def test_facades_serve_flowsnap_extensions_oneflow_never_had() -> None:
    """A OneFlow program run through flowsnap may use flowsnap's own additions."""
    import flowsnap

    for version in SHORT:
        flow = get_facade(version).root
        assert flow.data.load_fashion_mnist is flowsnap.data.load_fashion_mnist
        assert flow.CheckpointManager is flowsnap.CheckpointManager
        with pytest.raises(MissingOpError, match="not part of OneFlow"):
            get_facade(version).get("data.load_fashion_mnistt")
