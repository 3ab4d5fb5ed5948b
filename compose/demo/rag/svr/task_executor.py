"""The demo's task executor: idles, logs a heartbeat now and then, exits 0 on SIGTERM.

Run as `python3 rag/svr/task_executor.py` from the project root (PYTHONPATH=/ragflow/ in the image).
"""
import os
import signal
import sys
import time

from common.log_utils import init_logger
from deepdoc.parser import model_status
from rag.nlp import count_tokens

HEARTBEAT_SECONDS = 10.0

logger = init_logger("task_executor")


def _on_sigterm(signum, frame):
    logger.info("task_executor pid=%d got signal %d, exiting", os.getpid(), signum)
    sys.exit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, _on_sigterm)
    logger.info("task_executor started pid=%d model=%s", os.getpid(), model_status())
    done = 0
    next_beat = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= next_beat:
            done += count_tokens("heartbeat from the demo task executor")
            logger.info("task_executor heartbeat pid=%d tokens=%d", os.getpid(), done)
            next_beat = now + HEARTBEAT_SECONDS
        time.sleep(0.5)


if __name__ == "__main__":
    main()
