"""One clear line per card on stdout, in colour on a terminal."""

from __future__ import annotations

import contextlib
import sys
from typing import Any, TextIO

GREEN, RED, YELLOW, BOLD, RESET = "\033[32m", "\033[31m", "\033[33m", "\033[1m", "\033[0m"

REASONS = {
    "card_unknown": "unknown card",
    "invalid_uid": "card not readable (invalid UID)",
    "card_blocked": "CARD BLOCKED",
    "insufficient_funds": "insufficient funds",
    "daily_limit_exceeded": "daily limit reached",
    "debt_limit_reached": "debt limit reached",
    "already_served_today": "ALREADY SERVED TODAY",
    "no_meal_ordered": "no meal ordered",
    "outside_serving_hours": "outside serving hours",
    "not_a_school_day": "not a school day",
}


class Printer:
    def __init__(self, stream: TextIO | None = None, color: str = "auto") -> None:
        self.stream = stream or sys.stdout
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.color = color == "always" or (color == "auto" and isatty())

    def line(self, text: str, colour: str = "") -> None:
        if self.color and colour:
            text = f"{colour}{text}{RESET}"
        with contextlib.suppress(OSError, ValueError):  # a closed stdout must not stop the agent
            print(text, file=self.stream, flush=True)

    def ok(self, text: str) -> None:
        self.line(text, GREEN)

    def refused(self, text: str) -> None:
        self.line(text, RED + BOLD)

    def warn(self, text: str) -> None:
        self.line(text, YELLOW)


def reason_text(code: str | None) -> str:
    if not code:
        return "refused"
    return REASONS.get(code, code.replace("_", " "))


def _money(value: Any) -> str:
    return str(value) if value is not None else "?"


def scan_line(uid: str, body: dict[str, Any]) -> tuple[bool, str]:
    """(accepted, text) for a 200 scan answer."""
    holder = body.get("holder") or {}
    name = holder.get("name") or "?"
    group = f" ({holder['group']})" if holder.get("group") else ""
    balances = body.get("balances") or {}
    currency = body.get("currency") or ""
    money = f"main {_money(balances.get('main'))} · extra {_money(balances.get('extra'))} {currency}".rstrip()
    if body.get("can_buy", True):
        return True, f"✔ {name}{group}  {money}"
    return False, f"✘ {name}{group}  {reason_text(body.get('reason'))}  ({money})"


def serve_line(uid: str, body: dict[str, Any]) -> tuple[bool, str]:
    """(accepted, text) for a 201 serve answer."""
    option = body.get("option")
    meal = body.get("meal")
    described = meal.get("description") if isinstance(meal, dict) else None
    option_text = f"option {option}" if option is not None else "meal"
    if described:
        option_text += f" ({described})"
    charged = body.get("charged")
    charged_text = f"  charged {charged}" if charged not in (None, "0.00") else ""
    return True, f"✔ SERVE {option_text}  card {uid}{charged_text}"
