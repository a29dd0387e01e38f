"""The failure counter inside the login and MFA use cases (domain/lockout.py has the rule)."""

from __future__ import annotations

import datetime as dt

from domain.errors import NotFound, TooManyAttempts
from domain.identity import AuditKind, User, normalize_email
from domain.lockout import LOCKED_FOR_GOOD, locked_until, retry_after
from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.services.audit import record

LOCKED = "too many failed attempts for this account; try again later"


def refuse_if_locked(user: User, now: dt.datetime) -> None:
    """TooManyAttempts ACCOUNT_LOCKED while the account is locked, even with a right password
    or code: otherwise the lock would not slow a guesser down at all."""
    wait = retry_after(user.locked_until, now)
    if wait > 0:
        raise TooManyAttempts(LOCKED, retry_after=wait, code="ACCOUNT_LOCKED")


def count_failure(uow: UnitOfWork, user: User, now: dt.datetime) -> int:
    """Count one failure on the account and lock it when the rule says so (the caller
    commits); the new count."""
    failures = uow.users.record_failure(user.id)
    until = locked_until(failures, now)
    if until is not None:
        uow.users.lock(user.id, until)
        # `permanent`: only an administrator can open the account again.
        record(
            uow,
            AuditKind.ACCOUNT_LOCKED,
            tenant_id=user.tenant_id,
            user_id=user.id,
            now=now,
            detail={"failures": failures, "permanent": until == LOCKED_FOR_GOOD},
        )
    return failures


def unlock_account(email: str, uow_factory: UnitOfWorkFactory, clock: Clock) -> User:
    """Open a locked account (`rota admin unlock-user`): the only way out after 100
    consecutive failures. The user is returned as it was, lock included."""
    with uow_factory() as uow:
        user = uow.users.get_by_email(normalize_email(email))
        if user is None:
            raise NotFound("no user with this email", code="USER_NOT_FOUND")
        uow.users.unlock(user.id)
        record(
            uow,
            AuditKind.ACCOUNT_UNLOCKED,
            tenant_id=user.tenant_id,
            user_id=user.id,
            now=clock(),
            detail={"failures": user.failed_logins},
        )
        uow.commit()
    return user
