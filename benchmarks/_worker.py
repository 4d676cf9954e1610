"""One measurement in a fresh interpreter (internal; launched by the harness).

    python -m benchmarks._worker --lib mproc --workload NAME --params JSON --out FILE

Writes a JSON object to FILE: ``{"status": "ok", "value": ..., ...}``,
``{"status": "skip", "reason": ...}`` or ``{"status": "error", "error": ...}``.

This module is the ``__main__`` of the measuring process, so spawn and
forkserver children re-import it (as ``__mp_main__``): keep the top level
free of work and of heavy imports.
"""


def _run(lib: str, name: str, params: dict) -> dict:
    import importlib
    import sys
    import traceback

    try:
        mp = importlib.import_module(lib)
    except BaseException:
        return {"status": "error", "error": f"import {lib} failed:\n{traceback.format_exc()}"}

    from benchmarks.harness import Measurement, Skip, discover

    registry = discover()
    wl = registry.get(name)
    if wl is None:
        return {"status": "error", "error": f"unknown workload {name!r}"}
    try:
        m = wl.fn(mp, **params)
    except Skip as exc:
        return {"status": "skip", "reason": str(exc) or "skipped"}
    except BaseException:
        return {"status": "error", "error": traceback.format_exc()}
    if not isinstance(m, Measurement):
        return {"status": "error", "error": f"workload returned {type(m).__name__}, not Measurement"}
    if m.unit is None:
        m.unit = wl.unit
    if m.higher_is_better is None:
        m.higher_is_better = wl.higher_is_better
    if m.scale is None:
        m.scale = wl.scale
    if m.unit != wl.unit or m.higher_is_better != wl.higher_is_better:
        return {"status": "error", "error": "measurement unit/direction differs from registration"}
    if not (m.units > 0 and m.seconds > 0):
        return {"status": "error", "error": f"bad measurement units={m.units} seconds={m.seconds}"}
    extra = dict(m.extra)
    if lib != "multiprocessing":
        # The library under test must not pull in the stdlib implementation.
        # (``multiprocessing`` aliased to the library itself, as the dask rows do
        # before importing distributed, is not the stdlib)
        loaded = sys.modules.get("multiprocessing")
        extra["stdlib_multiprocessing_imported"] = (
            loaded is not None and loaded is not sys.modules.get(lib))
    return {
        "status": "ok",
        "units": m.units,
        "seconds": m.seconds,
        "unit": m.unit,
        "higher_is_better": m.higher_is_better,
        "scale": m.scale,
        "value": m.value,
        "extra": extra,
    }


def main() -> None:
    import argparse
    import json
    import os

    p = argparse.ArgumentParser(prog="python -m benchmarks._worker")
    p.add_argument("--lib", required=True)
    p.add_argument("--workload", required=True)
    p.add_argument("--params", default="{}")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    result = _run(a.lib, a.workload, json.loads(a.params))
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, default=str)
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
