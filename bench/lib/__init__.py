"""Helpers of the benchmark runner (``bench/run.py``).

- :mod:`bench.lib.procs`: starting a server pinned to CPUs, waiting for its port, its
  process tree, stopping it.
- :mod:`bench.lib.systems`: the systems under test (pchat and its peers) and how each
  is started.
- :mod:`bench.lib.loadgen`: building and running the C load generator.
- :mod:`bench.lib.harness`: the measurements (broadcast, idle memory, history pages).
- :mod:`bench.lib.report`: medians, ``results.json`` and ``results.md``.
- :mod:`bench.lib.plot`: ``plot.png`` (needs matplotlib: ``.venv-bench``).
- ``pchat_tools.py``: a script run with the project's ``.venv`` for what needs pchat
  (tokens, filling and timing history).

Everything here but ``plot`` and ``pchat_tools`` uses the standard library only.
"""
