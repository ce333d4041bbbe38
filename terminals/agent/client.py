"""The terminal API as the agent uses it: one read in, one outcome out. Never raises for HTTP trouble."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from terminals.agent import __version__
from terminals.agent.config import Config
from terminals.agent.queue import Read

PATHS = {"scan": "/api/v1/terminal/scans", "serve": "/api/v1/terminal/meals/serve"}
PRODUCTS_PATH = "/api/v1/terminal/products"
RETRY_4XX = (408, 425, 429)


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt to send a read.

    kind: "delivered" (2xx), "rejected" (4xx other than 401 and the retryable ones: set aside),
    "auth" (401: the token is wrong or revoked; retried, but loudly), "retry" (5xx, 408/429,
    timeout, connection error).
    """

    kind: str
    status: int | None = None
    body: dict[str, Any] | None = None
    error: str = ""
    retry_after: float | None = None

    @property
    def code(self) -> str | None:
        error = (self.body or {}).get("error")
        return error.get("code") if isinstance(error, dict) else None


class ApiClient:
    def __init__(self, config: Config, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._http = httpx.Client(
            base_url=config.base_url,
            headers={
                "Authorization": f"Bearer {config.token}",
                "User-Agent": f"cardsystem-agent/{__version__}",
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(config.timeout, connect=min(config.timeout, 3.0)),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def body_for(self, read: Read) -> dict[str, Any]:
        body: dict[str, Any] = {"uid": read.uid}
        if self.config.send_sequence:
            body["sequence"] = read.sequence
            body["read_at"] = read.read_at
        return body

    def send(self, read: Read) -> Outcome:
        try:
            response = self._http.post(
                PATHS[read.mode], json=self.body_for(read), headers={"Idempotency-Key": read.idempotency_key}
            )
        except httpx.TimeoutException as exc:
            return Outcome("retry", error=f"timeout: {exc.__class__.__name__}")
        except httpx.HTTPError as exc:
            return Outcome("retry", error=f"{exc.__class__.__name__}: {exc}")
        return self.outcome(response)

    @staticmethod
    def outcome(response: httpx.Response) -> Outcome:
        status = response.status_code
        try:
            parsed = response.json()
            body = parsed if isinstance(parsed, dict) else {"value": parsed}
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = {"text": response.text[:500]}
        if 200 <= status < 300:
            return Outcome("delivered", status, body)
        if status == 401:
            return Outcome("auth", status, body, error="401: terminal token rejected")
        if status in RETRY_4XX or status >= 500:
            retry_after = None
            header = response.headers.get("Retry-After", "")
            if header.isdigit():
                retry_after = float(header)
            return Outcome("retry", status, body, error=f"HTTP {status}", retry_after=retry_after)
        return Outcome("rejected", status, body, error=f"HTTP {status}")

    def check(self) -> tuple[bool, str]:
        """Server reachable and token valid: GET the products list."""
        try:
            response = self._http.get(PRODUCTS_PATH)
        except httpx.HTTPError as exc:
            return False, f"server {self.config.base_url} unreachable: {exc.__class__.__name__}: {exc}"
        if response.status_code == 200:
            return True, f"server {self.config.base_url} reachable, token valid"
        if response.status_code == 401:
            return False, f"server {self.config.base_url} reachable, but the terminal token is rejected (401)"
        return False, f"server {self.config.base_url} answered HTTP {response.status_code} to {PRODUCTS_PATH}"
