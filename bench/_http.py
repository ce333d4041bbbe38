"""A lean HTTP/1.1 client on asyncio streams: one keep-alive connection per terminal.

The server and the load generator share two cores, so the client must cost little CPU: a general
client (httpx) spends several times more per request than writing the request bytes and reading
a Content-Length body. Only what gunicorn sends is understood: Content-Length, chunked, or
Connection: close. A request that fails on a reused connection before any answer arrived (the
server closed an idle keep-alive connection) is sent once more on a new one; purchases carry an
Idempotency-Key, so a resend never sells twice.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

TIMEOUT_S = 10.0


class HttpError(Exception):
    pass


class Connection:
    def __init__(self, host: str, port: int, token: str) -> None:
        self.host = host
        self.port = port
        self._auth = f"Authorization: Bearer {token}\r\n"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.connects = 0

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self.connects += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def post_json(self, path: str, body: dict[str, Any], headers: str = "") -> tuple[int, bytes]:
        """POST a JSON body; `headers` are extra header lines, each ending in CRLF. Returns (status, body)."""
        payload = json.dumps(body, separators=(",", ":")).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self._auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n{headers}\r\n"
        ).encode()
        return await self._request(head + payload)

    async def get(self, path: str) -> tuple[int, bytes]:
        return await self._request(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self._auth}\r\n".encode())

    async def _request(self, data: bytes) -> tuple[int, bytes]:
        async with asyncio.timeout(TIMEOUT_S):
            for attempt in range(2):
                reused = self._writer is not None
                if not reused:
                    await self._connect()
                assert self._reader is not None and self._writer is not None
                try:
                    self._writer.write(data)
                    return await self._read_response(self._reader)
                except (ConnectionError, asyncio.IncompleteReadError) as error:
                    self.close()
                    nothing_read = not isinstance(error, asyncio.IncompleteReadError) or not error.partial
                    if attempt == 0 and reused and nothing_read:
                        continue
                    raise HttpError(f"connection failed: {error!r}") from error
        raise AssertionError("unreachable")

    async def _read_response(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        length = None
        chunked = close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                close = "close" in value.lower()
        if chunked:
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(data[:-2])
            body = b"".join(chunks)
        elif length is not None:
            body = await reader.readexactly(length)
        else:
            body = await reader.read()
            close = True
        if close:
            self.close()
        return status, body
