"""What the MFA use cases need from storage, as a Protocol (beside domain/ports.py, which puts
it into its UnitOfWork as `mfa`, as domain/identity_ports.py does for users).

The MFA columns of `users` are read through UserRepository (domain.identity.User); this
repository writes them and owns the backup and e-mailed codes.
Implementations: domain/adapters/db/mfa.py in SQL, tests/mfa_fakes.py in memory.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class EnrollmentCount:
    """MFA enrolment of one tenant's people (service accounts have no MFA and do not count)."""

    users: int
    enrolled: int
    admins: int
    admins_enrolled: int

    @property
    def rate(self) -> float:
        return self.enrolled / self.users if self.users else 0.0


class MfaRepository(Protocol):
    def set_totp_secret(self, user_id: uuid.UUID, encrypted: str) -> None:
        """Store a pending secret (setup); MFA stays off until `enable`."""

    def enable(self, user_id: uuid.UUID, *, when: dt.datetime, step: int) -> None:
        """MFA on, enrolled at `when`, `step` (the confirming code's) already used."""

    def disable(self, user_id: uuid.UUID) -> None:
        """MFA off: secret, last step and every backup and e-mailed code gone."""

    def claim_totp_step(self, user_id: uuid.UUID, step: int) -> bool:
        """Record `step` as the last accepted one if it is newer than the stored one, in ONE
        guarded UPDATE; False when it is not (a replay, or a concurrent request won)."""

    def replace_backup_codes(self, user_id: uuid.UUID, code_hashes: list[str]) -> None: ...

    def use_backup_code(
        self, user_id: uuid.UUID, code_hashes: list[str], when: dt.datetime
    ) -> bool:
        """Mark the unused code whose hash is one of `code_hashes` used (one guarded UPDATE);
        False when there is none (wrong, or used already)."""

    def backup_codes_left(self, user_id: uuid.UUID) -> int: ...

    def hold(self, user_id: uuid.UUID) -> None:
        """Lock the user's row until the end of the transaction (SELECT ... FOR UPDATE), so
        that concurrent sends of e-mailed codes count one after the other."""

    def add_email_code(
        self,
        user_id: uuid.UUID,
        code_hash: str,
        *,
        created_at: dt.datetime,
        expires_at: dt.datetime,
    ) -> None: ...

    def email_codes_sent_since(self, user_id: uuid.UUID, since: dt.datetime) -> list[dt.datetime]:
        """When the user's e-mailed codes created after `since` were made."""

    def use_email_code(self, user_id: uuid.UUID, code_hashes: list[str], when: dt.datetime) -> bool:
        """Mark the unused, unexpired code whose hash is one of `code_hashes` used (one
        guarded UPDATE); False when there is none."""

    def enrollment(self, tenant_id: uuid.UUID) -> EnrollmentCount: ...

    def enrollment_by_tenant(self) -> dict[str, EnrollmentCount]:
        """Tenant name -> its enrolment, for every tenant with people (the metric)."""
