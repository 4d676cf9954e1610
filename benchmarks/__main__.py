"""Entry point: ``python -m benchmarks [options] [workload-substrings...]``."""

if __name__ == "__main__":
    import sys

    from benchmarks.harness import main

    sys.exit(main())
