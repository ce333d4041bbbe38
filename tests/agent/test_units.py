"""The agent's parts without PC/SC: UIDs, backoff, configuration, the queue, the HTTP outcomes."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import random
from pathlib import Path

import httpx
import pytest

from terminals.agent.backoff import backoff_delay
from terminals.agent.client import ApiClient
from terminals.agent.config import Config, ConfigError, config_load
from terminals.agent.output import Printer, scan_line
from terminals.agent.queue import AlreadyQueuedToday, QueueFull, ReadQueue
from terminals.agent.readers import KeyboardReader, reader_pick
from terminals.agent.uid import InvalidUid, uid_normalise


@pytest.mark.parametrize(
    ("raw", "uid"),
    [
        (bytes.fromhex("04a1b2c3d4e5f6"), "04A1B2C3D4E5F6"),
        ([0xDE, 0xAD, 0xBE, 0xEF], "DEADBEEF"),
        (bytes(range(10)), "00010203040506070809"),
        ("04a1b2c3d4e5f6", "04A1B2C3D4E5F6"),
        (" 04:A1:B2:C3:D4:E5:F6\n", "04A1B2C3D4E5F6"),
        ("de-ad-be-ef", "DEADBEEF"),
        ("0xDEADBEEF", "DEADBEEF"),
        ("3735928559", "DEADBEEF"),  # decimal, as some keyboard readers type it
        ("12345678", "12345678"),  # 8 digits: read as hex, which it also is
    ],
)
def test_uid_normalise(raw: bytes | list[int] | str, uid: str) -> None:
    assert uid_normalise(raw) == uid


@pytest.mark.parametrize("raw", [b"\x01\x02\x03", bytes(5), "", "XYZ", "04A1B2C3D4E5", "04A1B2C3D4E5F6G7", "1" * 40])
def test_uid_normalise_refuses(raw: bytes | str) -> None:
    with pytest.raises(InvalidUid):
        uid_normalise(raw)


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [[backoff_delay(a, base=0.5, cap=30, rng=rng) for _ in range(200)] for a in range(1, 12)]
    for attempt, values in enumerate(delays, start=1):
        ceiling = min(30, 0.5 * 2 ** (attempt - 1))
        assert all(min(0.25, ceiling) <= v <= ceiling for v in values)
        assert len(set(values)) > 150  # jittered, not one value
    assert max(delays[-1]) > 20
    assert backoff_delay(0, base=0.5, cap=30) == 0.0
    assert backoff_delay(1000, base=0.5, cap=30) <= 30


def test_config_file_then_environment(tmp_path: Path) -> None:
    ini = tmp_path / "agent.ini"
    ini.write_text(
        "[agent]\nserver = https://cards.example.org/ ; comment\ntoken = from-file\nmode = serve\n"
        "queue_max = 50\nsend-sequence = no\n"
    )
    config = config_load(ini, environ={"CARDSYSTEM_TOKEN": "from-env", "CARDSYSTEM_READER": "ACS ACR122"})
    assert config == Config(
        server="https://cards.example.org/",
        token="from-env",
        reader="ACS ACR122",
        mode="serve",
        queue_max=50,
        send_sequence=False,
    )
    assert config.validate().base_url == "https://cards.example.org"


def test_config_toml(tmp_path: Path) -> None:
    toml = tmp_path / "agent.toml"
    toml.write_text('[agent]\nserver = "http://10.0.0.2:8000"\ntoken = "t"\nqueue_max = 7\ntimeout = 2.5\n')
    config = config_load(toml, environ={})
    assert (config.server, config.queue_max, config.timeout) == ("http://10.0.0.2:8000", 7, 2.5)


def test_config_environment_only() -> None:
    config = config_load(
        None, environ={"CARDSYSTEM_SERVER": "http://s", "CARDSYSTEM_TOKEN": "t", "CARDSYSTEM_MODE": "scan"}
    )
    assert config.validate().server == "http://s"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[agent]\nsrever = http://x\n", "unknown setting"),
        ("[agent]\nqueue_max = many\n", "not a valid int"),
        ("[other]\n", r"no \[agent\] section"),
    ],
)
def test_config_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "agent.ini"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        config_load(path, environ={})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (Config(token="t"), "no server"),
        (Config(server="ftp://x", token="t"), "http"),
        (Config(server="http://x"), "token"),
        (Config(server="http://x", token="t", mode="sell"), "mode"),
    ],
)
def test_config_validate(config: Config, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.validate()


def test_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        config_load(tmp_path / "nope.ini", environ={})


def test_queue_sequences_are_gap_free_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    queue = ReadQueue(path)
    first = [queue.add(uid, mode="scan") for uid in ("AAAAAAAA", "BBBBBBBB", "CCCCCCCC")]
    assert [r.sequence for r in first] == [0, 1, 2]
    assert len({r.idempotency_key for r in first}) == 3
    queue.delivered(0)
    queue.close()
    queue = ReadQueue(path)
    assert [(r.sequence, r.uid) for r in queue.pending()] == [(1, "BBBBBBBB"), (2, "CCCCCCCC")]
    assert queue.oldest() == first[1]
    queue.delivered(1)
    queue.delivered(2)
    assert queue.oldest() is None
    assert queue.add("DDDDDDDD", mode="scan").sequence == 3  # never reused, even with an empty queue


def test_queue_cap_and_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cardsystem.agent")  # whatever the root logger's level
    queue = ReadQueue(tmp_path / "q.sqlite3", max_items=5, warn_ratio=0.8)
    for i in range(3):
        queue.add(f"0000000{i}", mode="scan")
    assert "QUEUE FILLING" not in caplog.text
    queue.add("00000003", mode="scan")
    assert "QUEUE FILLING: 4 of 5" in caplog.text
    queue.add("00000004", mode="scan")
    with pytest.raises(QueueFull):
        queue.add("00000005", mode="scan")
    assert len(queue) == 5
    assert queue.next_sequence() == 5  # a refused read takes no sequence number: no gap


def test_queue_serve_cap_per_card_per_day(tmp_path: Path) -> None:
    queue = ReadQueue(tmp_path / "q.sqlite3")
    monday = dt.datetime(2026, 11, 23, 11, 30, tzinfo=dt.UTC)
    queue.add("AAAAAAAA", mode="serve", per_card_per_day=1, now=monday)
    with pytest.raises(AlreadyQueuedToday):
        queue.add("AAAAAAAA", mode="serve", per_card_per_day=1, now=monday + dt.timedelta(minutes=5))
    queue.add("BBBBBBBB", mode="serve", per_card_per_day=1, now=monday)
    queue.add("AAAAAAAA", mode="serve", per_card_per_day=1, now=monday + dt.timedelta(days=1))
    queue.add("AAAAAAAA", mode="scan", now=monday)  # scans are not capped per card
    assert [r.sequence for r in queue.pending()] == [0, 1, 2, 3]


def test_queue_reject_sets_aside(tmp_path: Path) -> None:
    queue = ReadQueue(tmp_path / "q.sqlite3")
    read = queue.add("AAAAAAAA", mode="serve")
    queue.add("BBBBBBBB", mode="serve")
    queue.reject(read, status=409, code="no_meal_ordered", body="{}", flagged=True)
    assert [r.uid for r in queue.pending()] == ["BBBBBBBB"]
    [rejected] = queue.rejected()
    assert (rejected.sequence, rejected.status, rejected.code, rejected.flagged) == (0, 409, "no_meal_ordered", True)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(200, "delivered"), (201, "delivered"), (400, "rejected"), (404, "rejected"), (409, "rejected"),
     (401, "auth"), (429, "retry"), (408, "retry"), (500, "retry"), (502, "retry"), (503, "retry")],
)  # fmt: skip
def test_outcome_by_status(status: int, kind: str) -> None:
    assert ApiClient.outcome(httpx.Response(status, json={"error": {"code": "x"}})).kind == kind


def test_client_sends_sequence_key_and_token(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json={"scan_id": 1})

    config = Config(server="http://till.test", token="tok", queue=str(tmp_path / "q"))
    client = ApiClient(config, transport=httpx.MockTransport(handler))
    read = ReadQueue(tmp_path / "q.sqlite3").add("04A1B2C3D4E5F6", mode="scan")
    assert client.send(read).kind == "retry"
    assert client.send(read).kind == "delivered"
    assert [r.headers["Idempotency-Key"] for r in seen] == [read.idempotency_key] * 2
    assert seen[1].headers["Authorization"] == "Bearer tok"
    assert seen[1].url.path == "/api/v1/terminal/scans"
    assert json.loads(seen[1].content) == {"uid": "04A1B2C3D4E5F6", "sequence": 0, "read_at": read.read_at}


def test_reader_pick() -> None:
    readers = ["ACS ACR122U PICC Interface 00 00", "Virtual PCD 00 00", "Virtual PCD 00 01"]
    assert reader_pick(readers, "first") == readers[0]
    assert reader_pick(readers, "Virtual PCD 00 01") == readers[2]
    assert reader_pick(readers, "acr122") == readers[0]
    assert reader_pick(readers, "Omnikey") is None
    assert reader_pick([], "first") is None


def test_keyboard_reader() -> None:
    import threading

    got: list[str] = []
    reader = KeyboardReader(io.StringIO("04a1b2c3d4e5f6\n\nnonsense\n3735928559\n"), got.append)
    reader.run(threading.Event())
    assert got == ["04A1B2C3D4E5F6", "DEADBEEF"]
    assert reader.finished.is_set()
    reversed_reader = KeyboardReader(io.StringIO("EFBEADDE\n"), got.append, reversed_bytes=True)
    reversed_reader.run(threading.Event())
    assert got[-1] == "DEADBEEF"


def test_result_lines() -> None:
    body = {
        "holder": {"name": "Anna", "group": "2A"},
        "balances": {"main": "100.00", "extra": "50.00"},
        "currency": "DKK",
        "can_buy": False,
        "reason": "card_blocked",
    }
    accepted, text = scan_line("04A1B2C3D4E5F6", body)
    assert not accepted
    assert "Anna (2A)" in text
    assert "CARD BLOCKED" in text
    out = io.StringIO()
    Printer(out, color="always").refused(text)
    assert out.getvalue().startswith("\033[31m")
    out = io.StringIO()
    Printer(out, color="auto").ok("x")  # not a TTY: no colour
    assert out.getvalue() == "x\n"
