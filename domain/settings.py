"""Settings of the whole service: the only module that reads environment variables.

`get_settings()` reads the environment once and caches the result; a bad value fails at once
with a message naming the variable, instead of surfacing later as a strange solver error.
Only the solver limits exist so far; database, Redis and secrets settings join them with the
platform (DESIGN.md section 5).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache


class SettingsError(ValueError):
    """An environment variable holds a value Rota cannot use."""


@dataclass(frozen=True)
class Settings:
    # RLIMIT_AS of each solver child, in MiB (DESIGN.md section 6); 0 disables the limit.
    solver_memory_limit_mib: int = 2048
    # CP-SAT search workers: bounds are far better with 8 than with 2, even on 2 cores.
    solver_workers: int = 8
    # The cap on a job's time_limit_seconds (DESIGN.md section 3).
    max_time_limit_seconds: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from `env` (default: os.environ); raise SettingsError on a bad value."""
        env = os.environ if env is None else env
        return cls(
            solver_memory_limit_mib=_int(env, "ROTA_SOLVER_MEMORY_MIB", 2048, minimum=0),
            solver_workers=_int(env, "ROTA_SOLVER_WORKERS", 8, minimum=1),
            max_time_limit_seconds=_positive_float(env, "ROTA_MAX_TIME_LIMIT", 30.0),
        )


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {text!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise SettingsError(f"{name} must be a positive finite number, got {text!r}")
    return value


@cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_env()
