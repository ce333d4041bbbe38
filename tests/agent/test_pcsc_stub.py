"""The agent with real PC/SC (private pcscd, vpcd, virtual cards) against a stub terminal API:
the queue and network behaviour (server down, agent killed, pcscd restarted)."""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.agent.conftest import READER, AgentProcess, Pcscd, StubApi, wait_for
from tests.agent.virtual_card import VirtualCard

UIDS = ["04A1B2C3D4E5F6", "04B2C3D4E5F607", "04C3D4E5F60718", "DEADBEEF", "04112233445566778899"]


def test_insert_card_is_one_scan(cards: Callable[..., VirtualCard], stub_api: StubApi, agent_factory: Any) -> None:
    out = io.StringIO()
    agent = agent_factory(server=stub_api.url, token=stub_api.token, out=out)
    card = cards(UIDS[0])
    card.insert()
    wait_for(lambda: stub_api.uids() == [UIDS[0]], 5, what="the scan at the stub")
    time.sleep(0.5)
    assert len(stub_api.requests) == 1
    request = stub_api.requests[0]
    assert request["sequence"] == 0
    assert request["read_at"]
    assert len(request["headers"]["idempotency-key"]) == 32
    wait_for(lambda: "Pupil E5F6" in out.getvalue(), 2, what="the line on stdout")
    assert out.getvalue().count("\n") == 1
    assert agent.status()["waiting"] == 0


def test_card_left_on_reader_is_one_scan(
    cards: Callable[..., VirtualCard], stub_api: StubApi, agent_factory: Any, pcscd: Pcscd
) -> None:
    agent_factory(server=stub_api.url, token=stub_api.token)
    card = cards(UIDS[1])
    card.insert()
    wait_for(lambda: stub_api.uids(), 5, what="the scan")
    time.sleep(2.0)  # the card stays: no second scan
    assert stub_api.uids() == [UIDS[1]]
    card.remove()
    pcscd.wait_card(False)
    card.insert()  # taken off and put back: that is a new scan
    wait_for(lambda: len(stub_api.uids()) == 2, 5, what="the second presentation")
    assert stub_api.sequences() == [0, 1]


def test_card_already_on_reader_at_start_is_read_once(
    cards: Callable[..., VirtualCard], stub_api: StubApi, agent_factory: Any
) -> None:
    card = cards(UIDS[2])
    card.insert()
    time.sleep(0.5)
    agent_factory(server=stub_api.url, token=stub_api.token)
    wait_for(lambda: stub_api.uids(), 5, what="the scan")
    time.sleep(1.0)
    assert stub_api.uids() == [UIDS[2]]


def test_server_down_reads_queued_then_delivered_in_order_once(
    cards: Callable[..., VirtualCard], stub_api: StubApi, agent_factory: Any, pcscd: Pcscd
) -> None:
    stub_api.stop()  # connection refused
    out = io.StringIO()
    agent = agent_factory(server=stub_api.url, token=stub_api.token, out=out)
    for uid in UIDS:
        card = cards(uid)
        pcscd.present(card)
    wait_for(lambda: agent.status()["waiting"] == len(UIDS), 5, what="every read queued")
    assert [r.sequence for r in agent.queue.pending()] == [0, 1, 2, 3, 4]
    assert "recorded offline" in out.getvalue()
    stub_api.start()  # back, on the same port
    wait_for(lambda: len(stub_api.uids()) == len(UIDS), 10, what="the queue to drain")
    time.sleep(0.5)
    assert stub_api.uids() == UIDS
    assert stub_api.sequences() == [0, 1, 2, 3, 4]
    assert len(stub_api.requests) == len(UIDS)  # each sent once: nothing was answered before
    assert agent.status()["waiting"] == 0


def test_server_errors_are_retried_and_4xx_set_aside(
    cards: Callable[..., VirtualCard], stub_api: StubApi, agent_factory: Any, pcscd: Pcscd
) -> None:
    stub_api.fail_status = 503
    stub_api.unknown_uids = {UIDS[1]}
    agent = agent_factory(server=stub_api.url, token=stub_api.token)
    pcscd.present(cards(UIDS[0]))
    pcscd.present(cards(UIDS[1]))
    pcscd.present(cards(UIDS[2]))
    wait_for(lambda: len(stub_api.requests) >= 3, 5, what="retries of the 503")
    assert agent.status()["waiting"] == 3
    stub_api.fail_status = None
    wait_for(lambda: agent.status()["waiting"] == 0, 10, what="the queue to drain")
    assert stub_api.uids() == [UIDS[0], UIDS[2]]
    rejected = agent.queue.rejected()
    assert [(r.uid, r.status, r.code, r.sequence) for r in rejected] == [(UIDS[1], 404, "card_unknown", 1)]
    # the same Idempotency-Key on every attempt of the same read
    keys = {r["headers"]["idempotency-key"] for r in stub_api.requests if r["sequence"] == 0}
    assert len(keys) == 1


def test_agent_killed_with_full_queue_then_restarted_delivers_once(
    cards: Callable[..., VirtualCard],
    stub_api: StubApi,
    agent_process: Callable[..., AgentProcess],
    tmp_path: Path,
    pcscd: Pcscd,
) -> None:
    stub_api.stop()
    queue = tmp_path / "killed-queue.sqlite3"
    config = tmp_path / "agent.ini"
    config.write_text(
        f"[agent]\nserver = {stub_api.url}\nreader = {READER}\nqueue = {queue}\nqueue_max = 4\n"
        "retry_base = 0.05\nretry_max = 0.3\ncolor = never\n"
    )
    env = {"CARDSYSTEM_TOKEN": stub_api.token}
    agent = agent_process(env, "--config", str(config))

    def waiting() -> list[tuple[int, str]]:
        if not queue.exists():
            return []
        with sqlite3.connect(queue) as db:
            try:
                return db.execute("SELECT sequence, uid FROM pending ORDER BY sequence").fetchall()
            except sqlite3.OperationalError:
                return []

    wait_for(lambda: "using card reader" in agent.log.read_text(), 10, what="the agent process to find the reader")
    for uid in UIDS:  # five cards, room for four
        pcscd.present(cards(uid))
    wait_for(lambda: len(waiting()) == 4, 5, what="a full queue")
    wait_for(lambda: "QUEUE FULL" in agent.log.read_text(), 3, what="the refusal of the fifth card")
    assert "QUEUE FILLING" in agent.log.read_text()
    agent.kill()  # SIGKILL: no clean shutdown
    assert waiting() == list(enumerate(UIDS[:4]))

    stub_api.start()
    restarted = agent_process(env, "--config", str(config))
    wait_for(lambda: len(stub_api.uids()) == 4, 10, what="the restarted agent to deliver the queue")
    time.sleep(0.5)
    assert stub_api.uids() == UIDS[:4]
    assert stub_api.sequences() == [0, 1, 2, 3]
    assert waiting() == []
    pcscd.present(cards(UIDS[4]))  # the sequence carries on after the restart
    wait_for(lambda: len(stub_api.uids()) == 5, 5, what="a new read after the restart")
    assert stub_api.sequences() == [0, 1, 2, 3, 4]
    assert restarted.terminate() == 0


def test_pcscd_restarted_agent_reads_again(
    cards: Callable[..., VirtualCard], stub_api: StubApi, agent_factory: Any, pcscd: Pcscd
) -> None:
    agent = agent_factory(server=stub_api.url, token=stub_api.token)
    pcscd.present(cards(UIDS[0]))
    wait_for(lambda: len(stub_api.uids()) == 1, 5, what="the first scan")
    sessions = agent.reader.sessions
    pcscd.restart()
    wait_for(lambda: agent.reader.sessions > sessions, 10, what="the agent to reconnect to pcscd")
    time.sleep(0.3)
    pcscd.present(cards(UIDS[1]))
    wait_for(lambda: len(stub_api.uids()) == 2, 10, what="a scan after the pcscd restart")
    assert stub_api.uids() == UIDS[:2]


def test_check_command(
    cards: Callable[..., VirtualCard],
    stub_api: StubApi,
    agent_process: Callable[..., AgentProcess],
    tmp_path: Path,
    pcscd: Pcscd,
) -> None:
    env = {
        "CARDSYSTEM_SERVER": stub_api.url,
        "CARDSYSTEM_TOKEN": stub_api.token,
        "CARDSYSTEM_READER": READER,
        "CARDSYSTEM_QUEUE": str(tmp_path / "check-queue.sqlite3"),
    }
    card = cards(UIDS[0])
    card.insert()
    pcscd.wait_card(True)
    good = agent_process(env, "--check")
    assert good.process.wait(20) == 0, good.log.read_text()
    text = good.log.read_text()
    assert f"card: {UIDS[0]}" in text
    assert "token valid" in text
    card.remove()

    bad_token = agent_process({**env, "CARDSYSTEM_TOKEN": "wrong"}, "--check")
    assert bad_token.process.wait(20) == 1
    assert "token is rejected" in bad_token.log.read_text()

    no_reader = agent_process({**env, "CARDSYSTEM_READER": "Omnikey"}, "--check")
    assert no_reader.process.wait(20) == 1
    assert "not found" in no_reader.log.read_text()

    stub_api.stop()
    no_server = agent_process(env, "--check")
    assert no_server.process.wait(20) == 1
    assert "unreachable" in no_server.log.read_text()
