"""A virtual ISO 14443-A card for the vsmartcard-vpcd PC/SC driver, in stdlib sockets.

vpcd listens on TCP; a card is any program that connects to it: connecting inserts the card,
closing removes it. Every message is a 2-byte big-endian length, then the payload. A 1-byte
payload is control (0 power off, 1 power on, 2 reset: no reply; 4 get ATR: reply with the ATR);
anything longer is an APDU, answered with a response APDU. This card answers the PC/SC
"get data" command `FF CA 00 00 00` with its UID and `90 00`, anything else with `6D 00`.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
GET_UID = bytes.fromhex("FFCA000000")
OK = b"\x90\x00"
INS_NOT_SUPPORTED = b"\x6d\x00"


class VirtualCard:
    """One card on one vpcd slot. `insert()` connects, `remove()` closes; both are bounded in time."""

    def __init__(self, uid: str, *, port: int, host: str = "127.0.0.1") -> None:
        self.uid = bytes.fromhex(uid)
        self.port = port
        self.host = host
        self.apdus = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def insert(self, timeout: float = 5.0) -> None:
        """Connect to vpcd (retrying while pcscd starts); the reader then sees a card."""
        if self._sock is not None:
            raise RuntimeError("card already inserted")
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(AttributeError, OSError):  # Linux only; without it each APDU costs ~45 ms
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        sock.settimeout(None)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), name=f"vcard-{self.port}", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        """Close the connection; the reader sees the card go."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                header = _recv_exact(sock, 2)
                if header is None:
                    return
                (length,) = struct.unpack(">H", header)
                payload = _recv_exact(sock, length)
                if payload is None:
                    return
                reply = self.respond(payload)
                if reply is not None:
                    sock.sendall(struct.pack(">H", len(reply)) + reply)
                with contextlib.suppress(AttributeError, OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            return

    def respond(self, payload: bytes) -> bytes | None:
        if len(payload) == 1:
            return ATR if payload[0] == 4 else None  # 0 off, 1 on, 2 reset: no reply
        self.apdus += 1
        if payload == GET_UID:
            return self.uid + OK
        return INS_NOT_SUPPORTED

    def __enter__(self) -> VirtualCard:
        self.insert()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        try:
            chunk = sock.recv(n - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data
