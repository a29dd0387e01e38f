"""`rota admin ...`: schema migrations, tenants and API keys, on the platform's own database
(DATABASE_URL, or the SQLite file under ROTA_DATA_DIR), from the operator's shell.

Every failure a user can cause (a tenant that exists, an unknown tenant, a database that does
not answer or has no schema yet) is a `UsageError`: one line, exit code 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from domain.cli.files import UsageError
from domain.errors import Conflict, RotaError, ServiceUnavailable
from domain.services.identity import NewUser, create_user
from domain.services.lockout import unlock_account
from domain.services.tenants import IssuedKey, create_api_key, create_tenant
from domain.settings import Settings, get_settings
from domain.tenancy import Role, Tenant

if TYPE_CHECKING:
    from domain.ports import UnitOfWorkFactory

T = TypeVar("T")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1]


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _database_message(url: str, error: Exception) -> str:
    from sqlalchemy.exc import DBAPIError

    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    text = " ".join(str(cause).split("\n")[0].split())
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return f"the database {safe_url(url)} has no schema yet: run `rota admin migrate`"
    return f"cannot use the database {safe_url(url)}: {text or type(cause).__name__}"


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn the ways a database fails into one-line user errors."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        yield
    except ServiceUnavailable as error:
        # The unit of work's name for an unreachable database; the operator wants the cause.
        cause = error.__cause__ if isinstance(error.__cause__, Exception) else error
        raise UsageError(_database_message(url, cause)) from None
    except RotaError as error:
        raise UsageError(error.detail) from None
    except ArgumentError as error:
        raise UsageError(f"bad DATABASE_URL {safe_url(url)}: {error}") from None
    except SQLAlchemyError as error:
        raise UsageError(_database_message(url, error)) from None
    except ModuleNotFoundError as error:  # e.g. a driver that is not installed
        raise UsageError(f"cannot use the database {safe_url(url)}: {error}") from None


def with_uow(settings: Settings, url: str, work: Callable[[UnitOfWorkFactory], T]) -> T:
    """Run `work` with a unit-of-work factory on `url`, then close the engine's connections."""
    from domain.adapters.db import make_engine, sql_uow_factory
    from domain.adapters.secrets_wiring import attach_database_credentials, release

    with database_errors(url):
        engine = make_engine(settings, url=url)
        attach_database_credentials(engine, settings)
        try:
            return work(sql_uow_factory(engine))
        finally:
            engine.dispose()
            release()  # with Vault: the command's database user goes now, not in an hour


def migrate(url: str) -> None:
    """Upgrade the schema at `url` to the latest migration (creating a SQLite file's folder)."""
    from alembic.util import CommandError

    from domain.adapters.db.migrate import upgrade

    with database_errors(url):
        try:
            if (path := sqlite_path(url)) is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            upgrade(url)
        except CommandError as error:  # e.g. a database at a revision this code does not know
            raise UsageError(f"cannot migrate {safe_url(url)}: {error}") from None
        except OSError as error:  # no migrations directory (not a checkout), a read-only disk
            raise UsageError(f"cannot migrate {safe_url(url)}: {error}") from None


def _require_database(url: str) -> None:
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise UsageError(
            f"no database at {path}: run `rota admin migrate` (or `rota dev up`) first"
        )


def ensure_tenant(settings: Settings, url: str, name: str) -> Tenant | None:
    """Create the tenant `name`; None when it already exists (it is then reused)."""

    def work(uow_factory: UnitOfWorkFactory) -> Tenant | None:
        try:
            return create_tenant(name, uow_factory, utc_now)
        except Conflict:
            return None

    return with_uow(settings, url, work)


def issue_key(
    settings: Settings, url: str, tenant: str, *, role: Role, name: str | None
) -> IssuedKey:
    return with_uow(
        settings, url, lambda f: create_api_key(tenant, f, utc_now, role=role, name=name)
    )


# --- commands -------------------------------------------------------------------------------


def admin_settings() -> Settings:
    """The settings of admin commands: with Vault, the database URL is checked (users come
    from Vault) and a Vault session is opened, or the command stops with one line."""
    from domain.adapters.secrets_wiring import ADMIN, check_database_url, with_secrets

    settings = get_settings()
    check_database_url(settings)
    return with_secrets(settings, ADMIN)


def cmd_migrate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from domain.adapters.secrets_wiring import migration_url

    settings = admin_settings()
    with migration_url(settings) as url:
        migrate(url)
    print(f"database {safe_url(settings.database_url)}: schema at the latest revision", file=out)
    return 0


def cmd_create_tenant(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    settings = admin_settings()
    url = settings.database_url
    _require_database(url)
    tenant = with_uow(settings, url, lambda f: create_tenant(args.name, f, utc_now))
    print(f"created tenant {tenant.name!r} (id {tenant.id})", file=out)
    return 0


def cmd_create_api_key(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    settings = admin_settings()
    url = settings.database_url
    _require_database(url)
    issued = issue_key(settings, url, args.tenant, role=args.role, name=args.name)
    label = f", name {issued.key.name!r}" if issued.key.name else ""
    print(
        f"API key {issued.key.prefix}... for tenant {args.tenant!r} (role {issued.key.role}"
        f"{label}); it is shown once, store it now:",
        file=out,
    )
    print(issued.secret, file=out)  # the last line, for scripts: `... | tail -n 1`
    return 0


def read_password(stdin: TextIO) -> str:
    """The first line of stdin, without its line break: the password never appears in the
    process list or the shell history, as it would as an argument."""
    password = stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("--password-stdin: no password on standard input")
    return password


def cmd_create_user(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    settings = admin_settings()
    url = settings.database_url
    _require_database(url)
    password = read_password(sys.stdin)
    cmd = NewUser(tenant_name=args.tenant, email=args.email, password=password, role=args.role)
    user = with_uow(settings, url, lambda f: create_user(cmd, f, utc_now))
    print(
        f"created user {user.email} (id {user.id}, role {user.role}) in tenant {args.tenant!r}",
        file=out,
    )
    return 0


def cmd_unlock_user(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    settings = admin_settings()
    url = settings.database_url
    _require_database(url)
    user = with_uow(settings, url, lambda f: unlock_account(args.email, f, utc_now))
    print(f"unlocked {user.email} ({user.failed_logins} consecutive failures cleared)", file=out)
    return 0


def _role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise argparse.ArgumentTypeError(f"unknown role {text!r} (choose {choices})") from None


def register(commands: Any) -> None:
    """Add `rota admin ...` to the sub-command parsers `commands`."""
    p = commands.add_parser(
        "admin",
        help="database migrations, tenants and API keys",
        description="Administer the platform's database (DATABASE_URL, or the SQLite file "
        "under ROTA_DATA_DIR, default ./var).",
    )
    admin = p.add_subparsers(dest="admin_command", metavar="ACTION", required=True)

    a = admin.add_parser(
        "migrate",
        help="upgrade the database schema to the latest revision",
        description="Apply every pending migration (alembic upgrade head).",
    )
    a.set_defaults(handler=cmd_migrate)

    a = admin.add_parser("create-tenant", help="create a tenant", description="Create a tenant.")
    a.add_argument("name", metavar="NAME")
    a.set_defaults(handler=cmd_create_tenant)

    a = admin.add_parser(
        "create-api-key",
        help="issue an API key for a tenant (printed once, as the last line)",
        description="Issue an API key. The key is printed once, as the last line of stdout; "
        "only its hash is stored.",
    )
    a.add_argument("--tenant", required=True, metavar="NAME")
    a.add_argument(
        "--role",
        type=_role,
        default=Role.SERVICE,
        metavar="ROLE",
        help=f"one of {', '.join(r.value for r in Role)} (default: {Role.SERVICE.value})",
    )
    a.add_argument("--name", metavar="LABEL", help="a label to tell keys apart")
    a.set_defaults(handler=cmd_create_api_key)

    a = admin.add_parser(
        "create-user",
        help="create a user who logs in with email and password",
        description="Create a user of a tenant. The password is read from the first line of "
        "standard input (at least 12 characters, not a common password); it is stored as an "
        "argon2id hash.",
    )
    a.add_argument("--tenant", required=True, metavar="NAME")
    a.add_argument("--email", required=True, metavar="EMAIL")
    a.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from standard input (the only way: never as an argument)",
    )
    a.add_argument(
        "--role",
        type=_role,
        required=True,
        metavar="ROLE",
        help="admin, planner or viewer",
    )
    a.set_defaults(handler=cmd_create_user)

    a = admin.add_parser(
        "unlock-user",
        help="open an account locked by failed logins or MFA codes",
        description="Clear a user's failure count and lock (after 100 consecutive failures "
        "only this opens the account, NIST SP 800-63B 5.2.2).",
    )
    a.add_argument("--email", required=True, metavar="EMAIL")
    a.set_defaults(handler=cmd_unlock_user)

    from domain.cli import admin_vault

    admin_vault.register(admin)
