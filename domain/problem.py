"""The public problem and solution schema (v1), as msgspec Structs.

These types are the wire format of the API and the CLI alike (DESIGN.md section 3). Decoding
checks types and rejects unknown fields; the semantic checks that need the whole problem
(unknown ids, dates outside the horizon, min > max ...) live in `domain.validation`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

# Caps that keep a single request from exhausting the server. They are part of the
# public contract, so the validator and the API both quote them.
MAX_HORIZON_DAYS = 366
MAX_EMPLOYEES = 2_000
MAX_SHIFT_TYPES = 100
MAX_REQUESTS = 200_000
MAX_COVER_LINES = 100_000
MAX_ID_LENGTH = 64
MAX_NAME_LENGTH = 200
MAX_WEIGHT = 1_000_000
MAX_MINUTES_PER_SHIFT = 24 * 60
DEFAULT_TIME_LIMIT_SECONDS = 10.0

# No NUL characters: PostgreSQL cannot store U+0000 in text or JSONB, so a problem holding one
# would be accepted and then fail to save.
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[^\x00]*$")]
Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME_LENGTH, pattern=r"^[^\x00]*$")]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
HourMinute = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class Base(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Shared options of every wire type (STYLE.md 9)."""


class Horizon(Base):
    start: dt.date
    days: Annotated[int, msgspec.Meta(ge=1)]

    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)

    def day(self, date: dt.date) -> int:
        return (date - self.start).days


class ShiftType(Base):
    id: Id
    duration_minutes: Annotated[int, msgspec.Meta(ge=1)]
    name: Name | None = None
    start_time: HourMinute | None = None
    # Shift types that may not be worked on the day after this one.
    forbidden_next: list[Id] = []


class Employee(Base):
    id: Id
    name: Name | None = None
    skills: list[Name] = []
    # Most shifts of each type over the horizon; a missing type is unlimited, 0 means never.
    max_shifts: dict[Id, NonNegative] = {}
    min_total_minutes: int | None = None
    max_total_minutes: int | None = None
    min_consecutive_shifts: int | None = None
    max_consecutive_shifts: int | None = None
    min_consecutive_days_off: int | None = None
    max_weekends: int | None = None
    days_off: list[dt.date] = []


class Request(Base):
    """A soft wish: work exactly `shift` on `date` ("on") or not work it ("off")."""

    employee: Id
    date: dt.date
    shift: Id
    kind: Literal["on", "off"]
    weight: int


class Cover(Base):
    """Soft demand for `requirement` people on (date, shift), penalised per person off."""

    date: dt.date
    shift: Id
    requirement: int
    under_weight: int
    over_weight: int


class Options(Base):
    time_limit_seconds: float = DEFAULT_TIME_LIMIT_SECONDS
    fallback: bool = True
    use_cache: bool = True
    seed: int | None = None


class Problem(Base):
    horizon: Horizon
    shift_types: list[ShiftType]
    employees: list[Employee]
    requests: list[Request] = []
    cover: list[Cover] = []
    options: Options = msgspec.field(default_factory=Options)
    name: Name | None = None


class Assignment(Base):
    employee: str
    date: dt.date
    shift: str


class Penalties(Base):
    requests_on: int = 0
    requests_off: int = 0
    cover_under: int = 0
    cover_over: int = 0

    @property
    def total(self) -> int:
        return self.requests_on + self.requests_off + self.cover_under + self.cover_over


class Violation(Base):
    """A broken hard rule: which rule, whose roster, on which dates."""

    rule: str
    employee: str
    dates: list[dt.date] = []
    detail: str = ""


SolverName = Literal["cp-sat", "heuristic", "cache"]
SolutionStatus = Literal["optimal", "feasible", "infeasible", "unknown"]


class Solution(Base):
    status: SolutionStatus
    objective: int | None
    lower_bound: int | None
    solver: SolverName
    assignments: list[Assignment]
    penalties: Penalties = msgspec.field(default_factory=Penalties)
    hard_violations: list[Violation] = []
    stats: dict[str, Any] = {}


# Decoders and encoders are built once (msgspec perf tips).
problem_decoder = msgspec.json.Decoder(Problem)
solution_decoder = msgspec.json.Decoder(Solution)
json_encoder = msgspec.json.Encoder()


def encode(value: object) -> bytes:
    return json_encoder.encode(value)
