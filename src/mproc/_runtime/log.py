"""The ``multiprocessing`` logger, under the stdlib's name so existing logging
configuration applies unchanged."""

from __future__ import annotations

import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any

__all__ = [
    "SUBDEBUG",
    "SUBWARNING",
    "LOGGER_NAME",
    "DEFAULT_LOGGING_FORMAT",
    "get_logger",
    "log_to_stderr",
    "current_logger",
    "NOTSET",
    "DEBUG",
    "INFO",
    "sub_debug",
    "debug",
    "info",
    "sub_warning",
    "warn",
]

NOTSET = 0
SUBDEBUG = 5
DEBUG = 10
INFO = 20
SUBWARNING = 25
LOGGER_NAME = "multiprocessing"
DEFAULT_LOGGING_FORMAT = "[%(levelname)s/%(processName)s] %(message)s"

_logger: logging.Logger | None = None
_stderr_handler: logging.Handler | None = None
_lock = threading.Lock()


def current_logger() -> logging.Logger | None:
    """The logger if ``get_logger`` was ever called in this process, else None."""
    return _logger


def get_logger() -> logging.Logger:
    """Return the package logger, creating it (at most once) on first use."""
    global _logger
    import logging

    with _lock:
        if _logger is None:
            logging.addLevelName(SUBDEBUG, "SUBDEBUG")
            logging.addLevelName(SUBWARNING, "SUBWARNING")
            logger = logging.getLogger(LOGGER_NAME)
            logger.propagate = False
            _logger = logger
        return _logger


def log_to_stderr(level: int | str | None = None) -> logging.Logger:
    """Make the package logger print to stderr (once) and optionally set its level."""
    global _stderr_handler
    import logging

    logger = get_logger()
    if _stderr_handler is None:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(DEFAULT_LOGGING_FORMAT))
        logger.addHandler(handler)
        _stderr_handler = handler
    if level:
        logger.setLevel(level)
    return logger


def stderr_logging_enabled() -> bool:
    return _stderr_handler is not None


def _emit(level: int, msg: str, args: tuple[Any, ...]) -> None:
    logger = _logger
    if logger is not None:
        logger.log(level, msg, *args, stacklevel=3)


def sub_debug(msg: str, *args: Any) -> None:
    """Log at SUBDEBUG on the ``mproc`` logger (only once a logger exists)."""
    _emit(SUBDEBUG, msg, args)


def debug(msg: str, *args: Any) -> None:
    """Log at DEBUG on the ``mproc`` logger (only once a logger exists)."""
    _emit(10, msg, args)  # logging.DEBUG


def info(msg: str, *args: Any) -> None:
    """Log at INFO on the ``mproc`` logger (only once a logger exists)."""
    _emit(20, msg, args)  # logging.INFO


def sub_warning(msg: str, *args: Any) -> None:
    """Log at SUBWARNING on the ``mproc`` logger (only once a logger exists)."""
    _emit(SUBWARNING, msg, args)


def warn(msg: str, *args: Any) -> None:
    _emit(30, msg, args)  # logging.WARNING
