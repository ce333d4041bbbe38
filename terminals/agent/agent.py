"""The agent: a reader thread queues each card read; a sender thread delivers the queue in order."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Any, Protocol, TextIO

import httpx

from terminals.agent.backoff import backoff_delay
from terminals.agent.client import ApiClient, Outcome
from terminals.agent.config import Config
from terminals.agent.output import Printer, reason_text, scan_line, serve_line
from terminals.agent.queue import AlreadyQueuedToday, QueueFull, Read, ReadQueue
from terminals.agent.readers import KeyboardReader, PcscReader

log = logging.getLogger("cardsystem.agent")
KEYBOARD_READERS = ("keyboard", "stdin", "-")


class Reader(Protocol):
    def run(self, stop: threading.Event) -> None: ...


class Agent:
    """Start with `start()`, stop with `stop()` (bounded); or `run()` until a signal sets `stopping`."""

    def __init__(
        self,
        config: Config,
        *,
        out: TextIO | None = None,
        stdin: TextIO | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config.validate()
        self.printer = Printer(out, config.color)
        self.queue = ReadQueue(config.queue, max_items=config.queue_max, warn_ratio=config.queue_warn_ratio)
        self.client = ApiClient(config, transport=transport)
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self.reader: Reader
        if config.reader.strip().lower() in KEYBOARD_READERS:
            self.reader = KeyboardReader(
                stdin or sys.stdin, self.card_read, reversed_bytes=config.keyboard_uid_reversed
            )
        else:
            self.reader = PcscReader(config.reader, self.card_read)
        self._threads: list[threading.Thread] = []
        self._offline = False
        self.delivered = 0

    # -- reader side ---------------------------------------------------------------------------------
    def card_read(self, uid: str) -> None:
        """A card was presented: queue it (the sender picks it up at once)."""
        per_day = self.config.serve_per_card_per_day if self.config.mode == "serve" else None
        try:
            read = self.queue.add(uid, mode=self.config.mode, per_card_per_day=per_day)
        except QueueFull as exc:
            log.error("%s: card %s NOT recorded", exc, uid)
            self.printer.refused(f"✘ {uid}  QUEUE FULL, server unreachable: card NOT recorded, call the office")
            return
        except AlreadyQueuedToday:
            self.printer.refused(f"✘ {uid}  already queued for today (offline): not served again")
            return
        log.info("card %s read (sequence %d)", uid, read.sequence)
        if self._offline:
            self.printer.warn(
                f"… {uid}  recorded offline, will be sent when the server is back ({len(self.queue)} waiting)"
            )
        self._wake.set()

    # -- sender side ---------------------------------------------------------------------------------
    def _send_loop(self) -> None:
        attempt = 0
        while not self.stopping.is_set():
            try:
                read = self.queue.oldest()
                if read is None:
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                outcome = self.client.send(read)
                if outcome.kind in ("retry", "auth"):
                    attempt += 1
                    self._failed(read, outcome, attempt)
                    delay = outcome.retry_after or backoff_delay(
                        attempt, base=self.config.retry_base, cap=self.config.retry_max
                    )
                    self._wake.clear()
                    # A new card read is a good moment to try again; never sooner than retry_base/2.
                    self.stopping.wait(min(delay, self.config.retry_base / 2))
                    self._wake.wait(max(0.0, delay - self.config.retry_base / 2))
                    continue
                if attempt or self._offline:
                    log.info("server reachable again; %d read(s) waiting", len(self.queue))
                attempt, self._offline = 0, False
                self._answered(read, outcome)
            except Exception:  # the sender must not die: log, pause, go on
                log.exception("sender error")
                self.stopping.wait(1.0)

    def _failed(self, read: Read, outcome: Outcome, attempt: int) -> None:
        self.queue.failed_attempt(read.sequence, outcome.error)
        if outcome.kind == "auth":
            log.error("the server rejects this terminal's token (401): check `token`; reads are kept and retried")
        if not self._offline:
            self._offline = True
            waiting = len(self.queue)
            log.warning("server unreachable (%s): %d read(s) kept in the queue", outcome.error, waiting)
            if read.attempts == 0:
                self.printer.warn(
                    f"… {read.uid}  recorded offline, will be sent when the server is back ({waiting} waiting)"
                )
        elif attempt % 10 == 0:
            log.warning(
                "still no server after %d attempts (%s); %d read(s) waiting", attempt, outcome.error, len(self.queue)
            )

    def _answered(self, read: Read, outcome: Outcome) -> None:
        body = outcome.body or {}
        late = read.attempts > 0
        when = f"  [read {read.read_at[11:19]}, sent late]" if late else ""
        if outcome.kind == "delivered":
            self.queue.delivered(read.sequence)
            self.delivered += 1
            accepted, text = (scan_line if read.mode == "scan" else serve_line)(read.uid, body)
            (self.printer.ok if accepted else self.printer.refused)(text + when)
            return
        code = outcome.code
        flagged = read.mode == "serve" and late  # an offline meal refused later: a case for the office
        self.queue.reject(read, status=outcome.status or 0, code=code, body=json.dumps(body), flagged=flagged)
        if flagged:
            log.error(
                "OFFICE: the meal served offline to card %s at %s was refused by the server (%s): flagged",
                read.uid,
                read.read_at,
                code,
            )
        else:
            log.warning("read %d of card %s refused: HTTP %s %s", read.sequence, read.uid, outcome.status, code)
        self.printer.refused(f"✘ {read.uid}  {reason_text(code)}{when}")

    # -- life cycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        log.info(
            "agent started: mode %s, server %s, %d read(s) waiting in %s",
            self.config.mode,
            self.config.base_url,
            len(self.queue),
            self.config.queue,
        )
        for name, target in (("sender", self._send_loop), ("reader", self._run_reader)):
            thread = threading.Thread(target=target, name=f"agent-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run_reader(self) -> None:
        try:
            self.reader.run(self.stopping)
        except Exception:
            log.exception("reader stopped")

    def drain(self, timeout: float) -> bool:
        """Wait (bounded) until every queued read has been answered; True if the queue is empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not len(self.queue):
                return True
            time.sleep(0.05)
        return not len(self.queue)

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        self._threads.clear()
        self.client.close()
        self.queue.close()

    def run(self) -> None:
        """Run until `stopping` is set (a signal) or a keyboard reader reaches end of input."""
        self.start()
        finished = getattr(self.reader, "finished", None)
        while not self.stopping.is_set():
            if isinstance(finished, threading.Event) and finished.is_set():
                self.drain(timeout=self.config.timeout * 2)
                break
            self.stopping.wait(0.2)
        self.stop()

    def status(self) -> dict[str, Any]:
        return {"waiting": len(self.queue), "rejected": len(self.queue.rejected()), "delivered": self.delivered}
