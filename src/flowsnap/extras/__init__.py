"""OneFlow's small namespaces, one public module each: ``flow.sysconfig``, ``flow.profiler``,
``flow.util``, ``flow.system``, ``flow.deprecated``, ``flow.experimental``, ``flow.advanced``,
``flow.distributed``, ``flow.quantization`` (bound by the facade: ``flow.sysconfig`` is
:mod:`flowsnap.extras.sysconfig`). What they cannot honestly provide is on the not-provided list
(``compat/_rules.py``, docs/RUNTIME.md)."""

__all__: list[str] = []
