"""Logging to stdout and to a file under the logs folder (/ragflow/logs in the image)."""
import logging
import os
import sys

from common.paths import log_dir

_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"


def init_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if logger.handlers:
        return logger
    logger.setLevel(logging.INFO)
    formatter = logging.Formatter(_FORMAT)
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(formatter)
    logger.addHandler(stream)
    try:
        directory = log_dir()
        os.makedirs(directory, exist_ok=True)
        file_handler = logging.FileHandler(os.path.join(directory, f"{name}.log"), encoding="utf-8")
        file_handler.setFormatter(formatter)
        logger.addHandler(file_handler)
    except OSError as exc:  # a read-only or missing log folder must not stop the server
        logger.warning("no log file: %s", exc)
    logger.propagate = False
    return logger
