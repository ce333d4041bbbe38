"""Card readers: PC/SC through pyscard (SCardGetStatusChange), and a keyboard/stdin reader.

A reader calls `on_uid(uid)` once per card presented: a card held on the reader is one read; the
next read needs a removal. The PC/SC reader never gives up: no pcscd yet, no reader, a reader
unplugged, pcscd restarted: it logs the problem once, waits, and carries on when it is fixed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from terminals.agent.uid import InvalidUid, uid_normalise

log = logging.getLogger("cardsystem.agent.reader")

GET_UID_APDU = [0xFF, 0xCA, 0x00, 0x00, 0x00]
POLL_MS = 500
RETRY_S = 1.0
CONNECT_WINDOW_S = 2.0
OnUid = Callable[[str], None]


class PcscUnavailable(Exception):
    """pyscard is not installed (install the agent extra: pip install 'cardsystem[agent]')."""


def _scard() -> Any:
    try:
        from smartcard import scard
    except ImportError as exc:
        raise PcscUnavailable(
            "pyscard is not installed: pip install 'cardsystem[agent]' (needs libpcsclite-dev and swig to build)"
        ) from exc
    return scard


class PcscError(Exception):
    def __init__(self, what: str, code: int) -> None:
        self.code = code & 0xFFFFFFFF
        try:
            message = _scard().SCardGetErrorMessage(code)
        except Exception:
            message = ""
        super().__init__(f"{what}: {message} (0x{self.code:08X})")


def reader_pick(readers: list[str], wanted: str) -> str | None:
    """The reader to use: "first" (or empty) is the first listed; otherwise an exact name, else the
    first name containing `wanted` (case-insensitive)."""
    if not readers:
        return None
    if wanted.strip().lower() in ("", "first"):
        return readers[0]
    if wanted in readers:
        return wanted
    for name in readers:
        if wanted.lower() in name.lower():
            return name
    return None


def readers_list() -> list[str]:
    """The PC/SC readers present now (raises PcscError when pcscd is not reachable)."""
    scard = _scard()
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        raise PcscError("no PC/SC service (is pcscd running?)", hr)
    try:
        hr, readers = scard.SCardListReaders(ctx, [])
        if hr == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if hr != scard.SCARD_S_SUCCESS:
            raise PcscError("cannot list readers", hr)
        return list(readers)
    finally:
        scard.SCardReleaseContext(ctx)


class PcscReader:
    """Watches one reader with SCardGetStatusChange and reads each new card's UID (`FF CA 00 00 00`)."""

    def __init__(self, wanted: str, on_uid: OnUid) -> None:
        self.wanted = wanted
        self.on_uid = on_uid
        self.scard = _scard()
        self.reader: str | None = None
        self._problem: str | None = None
        self._held_uid: str | None = None  # survives a session restart: a card still held is not read twice
        self.sessions = 0

    # -- problems are logged once each, and their end is logged too --------------------------------
    def _trouble(self, text: str) -> None:
        if text != self._problem:
            log.warning("%s; waiting", text)
            self._problem = text

    def _fine(self, text: str) -> None:
        if self._problem is not None:
            log.info("recovered: %s", text)
            self._problem = None
        else:
            log.info("%s", text)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._session(stop)
            except PcscError as exc:
                self._trouble(str(exc))
            except Exception as exc:  # never let the reader thread die
                log.exception("card reader error: %s", exc)
                self._problem = str(exc)
            stop.wait(RETRY_S)

    def _session(self, stop: threading.Event) -> None:
        s = self.scard
        hr, ctx = s.SCardEstablishContext(s.SCARD_SCOPE_USER)
        if hr != s.SCARD_S_SUCCESS:
            raise PcscError("no PC/SC service (is pcscd running?)", hr)
        self.sessions += 1
        try:
            self._watch(ctx, stop)
        finally:
            s.SCardReleaseContext(ctx)

    def _watch(self, ctx: Any, stop: threading.Event) -> None:
        s = self.scard
        reader: str | None = None
        state = s.SCARD_STATE_UNAWARE
        done_count: int | None = None  # pcscd's event counter when the card on the reader was read
        while not stop.is_set():
            if reader is None:
                hr, readers = s.SCardListReaders(ctx, [])
                if hr == s.SCARD_E_NO_READERS_AVAILABLE or (hr == s.SCARD_S_SUCCESS and not readers):
                    self._trouble("no card reader connected")
                    stop.wait(RETRY_S)
                    continue
                if hr != s.SCARD_S_SUCCESS:
                    raise PcscError("cannot list readers", hr)
                reader = reader_pick(list(readers), self.wanted)
                if reader is None:
                    self._trouble(f"reader {self.wanted!r} not found among {', '.join(readers)}")
                    stop.wait(RETRY_S)
                    continue
                self.reader = reader
                self._fine(f"using card reader {reader!r}")
                state, done_count = s.SCARD_STATE_UNAWARE, None
            hr, states = s.SCardGetStatusChange(ctx, POLL_MS, [(reader, state)])
            if hr == s.SCARD_E_TIMEOUT:
                continue
            if hr in (s.SCARD_E_UNKNOWN_READER, s.SCARD_E_READER_UNAVAILABLE):
                self._trouble(f"card reader {reader!r} unplugged")
                reader = None
                continue
            if hr != s.SCARD_S_SUCCESS:
                raise PcscError("lost the PC/SC service", hr)
            event = int(states[0][1])
            if event & (s.SCARD_STATE_UNKNOWN | s.SCARD_STATE_UNAVAILABLE):
                self._trouble(f"card reader {reader!r} unplugged")
                reader = None
                continue
            state = event & ~s.SCARD_STATE_CHANGED
            count = (event >> 16) & 0xFFFF
            present = bool(event & s.SCARD_STATE_PRESENT) and not event & s.SCARD_STATE_EMPTY
            if not present:
                done_count = None
                self._held_uid = None
                continue
            if done_count is not None and count == done_count:
                continue  # the same card, still held
            if done_count is not None:  # removed and put back between two looks: a new presentation
                self._held_uid = None
            done_count = count
            uid = self._read_uid(ctx, reader)
            if uid is None or uid == self._held_uid:
                continue
            self._held_uid = uid
            try:
                self.on_uid(uid)
            except Exception:
                log.exception("handling card %s failed", uid)

    def _read_uid(self, ctx: Any, reader: str) -> str | None:
        """Connect and send `FF CA 00 00 00`. Transient failures (a card still powering up, a
        transaction failing just after insertion) are retried for CONNECT_WINDOW_S."""
        s = self.scard
        deadline = time.monotonic() + CONNECT_WINDOW_S
        transient = (
            s.SCARD_W_UNPOWERED_CARD,
            s.SCARD_W_UNRESPONSIVE_CARD,
            s.SCARD_E_SHARING_VIOLATION,
            s.SCARD_E_NOT_TRANSACTED,
            s.SCARD_W_RESET_CARD,
            s.SCARD_F_COMM_ERROR,
        )
        while True:
            hr, card, protocol = s.SCardConnect(
                ctx, reader, s.SCARD_SHARE_SHARED, s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1
            )
            if hr in (s.SCARD_E_NO_SMARTCARD, s.SCARD_W_REMOVED_CARD):
                return None  # gone already
            if hr != s.SCARD_S_SUCCESS:
                if hr in transient and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                log.warning("%s", PcscError("cannot connect to the card", hr))
                return None
            try:
                hr, response = s.SCardTransmit(card, protocol, GET_UID_APDU)
            finally:
                s.SCardDisconnect(card, s.SCARD_LEAVE_CARD)
            if hr == s.SCARD_S_SUCCESS:
                break
            if hr in (s.SCARD_E_NO_SMARTCARD, s.SCARD_W_REMOVED_CARD):
                return None
            if time.monotonic() < deadline:
                log.debug("%s; retrying", PcscError("reading the card's UID failed", hr))
                time.sleep(0.05)
                continue
            log.warning("%s", PcscError("reading the card's UID failed", hr))
            return None
        if len(response) < 2 or list(response[-2:]) != [0x90, 0x00]:
            sw = "".join(f"{b:02X}" for b in response[-2:])
            log.warning("the card refused the UID command (status %s): not a contactless card?", sw)
            return None
        try:
            return uid_normalise(response[:-2])
        except InvalidUid as exc:
            log.warning("card answered an unusable UID: %s", exc)
            return None


def card_read_once(wanted: str, timeout_ms: int = 200) -> tuple[str | None, str | None]:
    """For --check: (reader name, UID of the card on it now or None). Raises PcscError."""
    scard = _scard()
    readers = readers_list()
    reader = reader_pick(readers, wanted)
    if reader is None:
        return None, None
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        raise PcscError("no PC/SC service", hr)
    try:
        hr, states = scard.SCardGetStatusChange(ctx, timeout_ms, [(reader, scard.SCARD_STATE_UNAWARE)])
        if hr != scard.SCARD_S_SUCCESS or not states[0][1] & scard.SCARD_STATE_PRESENT:
            return reader, None
        watcher = PcscReader(wanted, lambda uid: None)
        return reader, watcher._read_uid(ctx, reader)
    finally:
        scard.SCardReleaseContext(ctx)


class KeyboardReader:
    """UIDs as lines of text: USB readers that type like a keyboard, or a demo typing them by hand."""

    def __init__(self, stream: TextIO, on_uid: OnUid, *, reversed_bytes: bool = False) -> None:
        self.stream = stream
        self.on_uid = on_uid
        self.reversed_bytes = reversed_bytes
        self.finished = threading.Event()

    def run(self, stop: threading.Event) -> None:
        log.info("reading card UIDs from the keyboard (one per line)")
        try:
            for line in self.stream:
                if stop.is_set():
                    break
                text = line.strip()
                if not text:
                    continue
                try:
                    uid = uid_normalise(text)
                except InvalidUid as exc:
                    log.warning("ignored typed input: %s", exc)
                    continue
                if self.reversed_bytes:
                    uid = bytes.fromhex(uid)[::-1].hex().upper()
                try:
                    self.on_uid(uid)
                except Exception:
                    log.exception("handling card %s failed", uid)
        finally:
            self.finished.set()
