"""Configuration: a small INI or TOML file (`--config PATH`), then environment variables over it.

```ini
[agent]
server = https://cards.example.org
token = ...            ; the terminal token from the back office (or CARDSYSTEM_TOKEN)
reader = first         ; a reader name (or part of it), "first", or "keyboard" for stdin
mode = scan            ; scan (till) or serve (lunch line)
queue = /var/lib/cardsystem-agent/queue.sqlite3
```

A `.toml` file holds the same keys in an `[agent]` table.
"""

from __future__ import annotations

import configparser
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

MODES = ("scan", "serve")
ENV_PREFIX = "CARDSYSTEM_"


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


@dataclass(frozen=True)
class Config:
    server: str = ""
    token: str = ""
    reader: str = "first"
    mode: str = "scan"
    queue: str = "cardsystem-agent-queue.sqlite3"
    queue_max: int = 1000
    queue_warn_ratio: float = 0.8
    serve_per_card_per_day: int = 1
    timeout: float = 5.0
    retry_base: float = 0.5
    retry_max: float = 30.0
    send_sequence: bool = True
    keyboard_uid_reversed: bool = False
    color: str = "auto"  # auto, always, never
    log_level: str = "INFO"

    def validate(self) -> Config:
        if not self.server:
            raise ConfigError("no server: set `server` in the config file or CARDSYSTEM_SERVER")
        if not self.server.startswith(("http://", "https://")):
            raise ConfigError(f"server must be an http:// or https:// URL, not {self.server!r}")
        if not self.token:
            raise ConfigError("no terminal token: set `token` in the config file or CARDSYSTEM_TOKEN")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.queue_max < 1:
            raise ConfigError("queue_max must be at least 1")
        if not 0 < self.queue_warn_ratio <= 1:
            raise ConfigError("queue_warn_ratio must be in (0, 1]")
        if self.timeout <= 0 or self.retry_base <= 0 or self.retry_max < self.retry_base:
            raise ConfigError("timeout and retry_base must be positive and retry_max at least retry_base")
        if self.color not in ("auto", "always", "never"):
            raise ConfigError("color must be auto, always or never")
        return self

    @property
    def base_url(self) -> str:
        return self.server.rstrip("/")


_TYPES: dict[str, type] = {f.name: type(getattr(Config(), f.name)) for f in fields(Config)}


def _convert(name: str, value: Any) -> Any:
    kind = _TYPES[name]
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    text = str(value).strip()
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        raise ConfigError(f"{name}: {text!r} is not a valid {kind.__name__}") from None
    return text


def _file_values(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if path.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        section = data.get("agent", data)
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [agent] must be a table")
        return dict(section)
    parser = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not parser.has_section("agent"):
        raise ConfigError(f"{path}: no [agent] section")
    return dict(parser.items("agent"))


def config_load(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The configuration from the file (if any), with CARDSYSTEM_* environment variables over it.

    Unknown keys are an error (a typo must not silently fall back to a default). Not validated:
    call `.validate()` (--check reports the problems itself).
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if path is not None:
        for key, value in _file_values(Path(path)).items():
            name = key.strip().lower().replace("-", "_")
            if name not in _TYPES:
                raise ConfigError(f"{path}: unknown setting {key!r}; known: {', '.join(sorted(_TYPES))}")
            values[name] = _convert(name, value)
    for name in _TYPES:
        env_value = environ.get(ENV_PREFIX + name.upper())
        if env_value is not None and env_value != "":
            values[name] = _convert(name, env_value)
    return replace(Config(), **values)
