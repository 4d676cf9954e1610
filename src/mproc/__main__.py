"""``python -m mproc``: run, demo, bench (see ``mproc._cli``)."""

from ._cli.main import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
