"""Windows spawning is not supported by mproc yet; the name exists for compatibility."""

__all__: list[str] = []
