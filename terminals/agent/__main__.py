"""`cardsystem-agent` / `python -m terminals.agent`: run the agent, or `--check` the till's set-up."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
from types import FrameType

from terminals.agent import __version__
from terminals.agent.agent import KEYBOARD_READERS, Agent
from terminals.agent.client import ApiClient
from terminals.agent.config import Config, ConfigError, config_load
from terminals.agent.queue import ReadQueue
from terminals.agent.readers import PcscError, PcscUnavailable, card_read_once, readers_list


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cardsystem-agent",
        description="Reads chip cards beside a till or lunch line and posts them to the card system.",
        epilog="Settings come from --config, then CARDSYSTEM_* environment variables, then these options.",
    )
    parser.add_argument("--config", "-c", metavar="PATH", help="INI or TOML file with an [agent] section")
    parser.add_argument("--check", action="store_true", help="check reader, card, server and token; then exit")
    parser.add_argument("--list-readers", action="store_true", help="list the PC/SC readers and exit")
    parser.add_argument("--server", help="server URL (CARDSYSTEM_SERVER)")
    parser.add_argument("--reader", help='reader name, "first", or "keyboard" (CARDSYSTEM_READER)')
    parser.add_argument("--mode", choices=("scan", "serve"), help="scan (till) or serve (lunch line)")
    parser.add_argument("--queue", metavar="PATH", help="SQLite queue file (CARDSYSTEM_QUEUE)")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"cardsystem-agent {__version__}")
    return parser.parse_args(argv)


def check(config: Config) -> int:
    """Print one line per check; 0 when all passed."""
    failures = 0

    def report(ok: bool, text: str) -> None:
        nonlocal failures
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'}  {text}", flush=True)

    try:
        config.validate()
        report(True, f"config: mode {config.mode}, reader {config.reader!r}, server {config.base_url}")
    except ConfigError as exc:
        report(False, f"config: {exc}")
        return 1
    if config.reader.strip().lower() in KEYBOARD_READERS:
        report(True, "reader: keyboard/stdin (nothing to check)")
    else:
        try:
            readers = readers_list()
            reader, uid = card_read_once(config.reader)
            if reader is None:
                found = ", ".join(readers) or "none"
                report(False, f"reader: {config.reader!r} not found (readers: {found})")
            else:
                report(True, f"reader: {reader!r}")
                print(f"      card: {uid}" if uid else "      card: none on the reader (put one on to test reading)")
        except (PcscError, PcscUnavailable) as exc:
            report(False, f"reader: {exc}")
    client = ApiClient(config)
    try:
        report(*client.check())
    finally:
        client.close()
    try:
        queue = ReadQueue(config.queue, max_items=config.queue_max)
        waiting, rejected = len(queue), len(queue.rejected())
        queue.close()
        report(waiting < config.queue_max, f"queue {config.queue}: {waiting} waiting, {rejected} set aside (rejected)")
    except Exception as exc:
        report(False, f"queue {config.queue}: {exc}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = config_load(args.config)
        overrides = {k: v for k in ("server", "reader", "mode", "queue") if (v := getattr(args, k)) is not None}
        config = dataclasses.replace(config, **overrides)
        logging.getLogger().setLevel(logging.DEBUG if args.verbose else config.log_level.upper())
    except (ConfigError, ValueError) as exc:
        print(f"cardsystem-agent: {exc}", file=sys.stderr)
        return 2
    if args.list_readers:
        try:
            print("\n".join(readers_list()) or "no readers")
        except (PcscError, PcscUnavailable) as exc:
            print(f"cardsystem-agent: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.check:
        return check(config)
    try:
        agent = Agent(config)
    except (ConfigError, PcscUnavailable) as exc:
        print(f"cardsystem-agent: {exc}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("cardsystem.agent").info("signal %d: stopping", signum)
        agent.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
