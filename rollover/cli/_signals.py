"""The run's signal handlers: Ctrl-C, `systemctl stop` or cron's timeout, and a closed terminal
each stop the run (no new call; the calls in flight finish and record their outcome; every
wait ends), and it exits 3; a second Ctrl-C cuts it short at once.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import structlog

log = structlog.get_logger("rollover")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """Installed around a run: a first signal asks the run to stop (`request_stop`, told the
    signal's name); a Ctrl-C after that cancels the run at once (`cut_short`)."""

    def __init__(self, request_stop: Callable[[str], None]) -> None:
        self._request_stop = request_stop
        self._loop = asyncio.get_running_loop()
        self._run = asyncio.current_task()
        self._asked = False
        self.cut_short = False
        for signum in STOP_SIGNALS:
            self._loop.add_signal_handler(signum, self._received, signal.Signals(signum))

    def _received(self, signum: signal.Signals) -> None:
        if signum is signal.SIGINT and self._asked and not self.cut_short:
            self.cut_short = True
            if self._run is not None:
                self._run.cancel()
            log.warning("run.interrupted", signal=signum.name)
            return
        self._asked = True
        self._request_stop(signum.name)
        log.warning("run.stopping", signal=signum.name)

    def remove(self) -> None:
        """Give the signals back to their default handlers."""
        for signum in STOP_SIGNALS:
            self._loop.remove_signal_handler(signum)
