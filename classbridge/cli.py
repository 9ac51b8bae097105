"""The `classbridge` command."""

import argparse
import asyncio
import getpass
import json
import logging
import os
import socket
import sys
import uuid
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError

from classbridge.models.db import Database, DatabaseConfigError, parse_database_url
from classbridge.settings import Settings, get_settings

log = logging.getLogger("classbridge.cli")


class CliError(Exception):
    """A one-line explanation for the operator; printed without a traceback."""


def _database(settings: Settings) -> Database:
    try:
        return Database(settings.database_url, pool_size=settings.database_pool_size)
    except DatabaseConfigError as exc:
        raise CliError(f"CLASSBRIDGE_DATABASE_URL: {exc}") from None


def _check_database(settings: Settings) -> None:
    database = _database(settings)
    shown = database.url.render_as_string(hide_password=True)

    async def check() -> None:
        try:
            await database.check()
        finally:
            await database.dispose()

    try:
        asyncio.run(check())
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"cannot reach the database at {shown}: {reason}") from None


def _shown_redis_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return parts._replace(netloc=user + netloc).geturl()


def _check_redis(settings: Settings) -> None:
    """With CLASSBRIDGE_REDIS_URL set, Redis must answer before anything starts."""
    if not settings.redis_url:
        return
    from redis.asyncio import Redis

    try:
        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=5)
    except ValueError as exc:  # the URL itself is not repeated: it may hold a password
        raise CliError(f"CLASSBRIDGE_REDIS_URL: malformed Redis URL ({exc})") from None
    shown = _shown_redis_url(settings.redis_url)

    async def ping() -> None:
        try:
            await redis.ping()
        finally:
            await redis.aclose()

    try:
        asyncio.run(ping())
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"cannot reach Redis at {shown}: {reason}") from None


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> None:
    _check_database(settings)
    from classbridge.migrate import upgrade

    applied = upgrade(
        parse_database_url(settings.database_url).render_as_string(hide_password=False)
    )
    if applied:
        log.info("database upgraded to %s (applied %s)", applied[-1], ", ".join(applied))
    else:
        log.info("database is up to date")


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from classbridge.graph.app import create_app
    from classbridge.ops.gc_tuning import tune_for_serving

    _check_redis(settings)
    cmd_migrate(settings, args)
    app = create_app(settings)
    tune_for_serving()
    # log_config=None: uvicorn's loggers go through ours (classbridge/ops/logs.py).
    uvicorn.run(app, host=args.host, port=args.port, log_config=None)


def cmd_worker(settings: Settings, _args: argparse.Namespace) -> None:
    if not settings.redis_url:
        raise CliError(
            "CLASSBRIDGE_REDIS_URL is not set: without Redis, `classbridge serve` pushes "
            "in-process and no worker is needed"
        )
    _check_redis(settings)
    _check_database(settings)
    from arq.worker import run_worker

    from classbridge.jobs.worker import WorkerSettings

    run_worker(WorkerSettings)  # type: ignore[arg-type]  # arq's settings type is a TypedDict


def cmd_reconcile(settings: Settings, _args: argparse.Namespace) -> None:
    from classbridge.jobs.client import AggregatorClient
    from classbridge.jobs.push import PushRuntime
    from classbridge.jobs.reconcile import reconcile
    from classbridge.models.tables import Aggregator

    _check_database(settings)
    database = _database(settings)

    async def run() -> int:
        async def later(_at: object) -> None:  # retries are left to the server or workers
            pass

        runtime = PushRuntime(
            database=database, client=AggregatorClient(settings), settings=settings, schedule=later
        )
        try:
            return await reconcile(runtime)
        finally:
            await runtime.client.aclose()
            await database.dispose()

    if not any(settings.push_target(a) for a in Aggregator):
        raise CliError(
            "no aggregator receiver configured (CLASSBRIDGE_<AGGREGATOR>_PUSH_URL/_SECRET)"
        )
    print(f"reconciled: {asyncio.run(run())} session states acknowledged")


def cmd_simulate_aggregator(_settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from classbridge.simulator import Faults, create_simulator

    faults = Faults(
        error_rate=args.error_rate,
        latency_ms=args.latency_ms,
        rate_limit_count=args.rate_limit_count,
        retry_after_seconds=args.retry_after,
    )
    if args.down_for:
        faults.update({"downForSeconds": args.down_for})
    try:
        app = create_simulator(args.secret, faults, path_prefix=args.path_prefix)
    except ValueError as exc:  # standardwebhooks decodes the secret (base64, optional whsec_)
        raise CliError(f"--secret is not a webhook signing secret: {exc}") from None
    # Bound here, so that `--port 0` (any free port) can say which port it got.
    ipv6 = ":" in args.host
    try:
        sock = socket.create_server(
            (args.host, args.port), family=socket.AF_INET6 if ipv6 else socket.AF_INET
        )
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    bound = sock.getsockname()[1]
    host = f"[{args.host}]" if ipv6 else args.host
    print(f"aggregator simulator on http://{host}:{bound}", file=sys.stderr, flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


def cmd_export_schema(_settings: Settings, args: argparse.Namespace) -> None:
    if args.partner:
        from classbridge.graph.partner.schema import build_partner_schema

        sdl = build_partner_schema().as_str() + "\n"
    else:
        from classbridge.graph.staff.schema import build_staff_schema

        sdl = build_staff_schema().as_str() + "\n"
    if args.output:
        Path(args.output).write_text(sdl)
    else:
        sys.stdout.write(sdl)


def cmd_export_roles(_settings: Settings, args: argparse.Namespace) -> None:
    from classbridge.graph.staff.permissions import roles_markdown
    from classbridge.graph.staff.schema import staff_permissions

    text = roles_markdown(staff_permissions())
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> None:
    from classbridge.demo import seed_demo

    cmd_migrate(settings, args)
    database = _database(settings)

    async def run() -> dict[str, object]:
        try:
            result = await seed_demo(database, token_ttl_days=settings.token_ttl_days)
        finally:
            await database.dispose()
        return result.as_json()

    data = asyncio.run(run())
    if args.json:
        print(json.dumps(data))
    else:
        state = "created" if data["created"] else "exists already (reused, nothing duplicated)"
        print(f"Demo Studio {state}")
        print(f"  company id:  {data['companyId']}")
        venue_ids = data["venueIds"]
        assert isinstance(venue_ids, list)
        print(f"  venue ids:   {', '.join(venue_ids)}")
        print(f"  owner login: {data['ownerEmail']} / {data['ownerPassword']}")
        print(f"  staff token: {data['staffToken']}")
        tokens = data["aggregatorTokens"]
        assert isinstance(tokens, dict)
        for name, token in tokens.items():
            print(f"  partner token ({name}): {token}")


def _ask_password(variable: str = "CLASSBRIDGE_OWNER_PASSWORD") -> str:
    if not sys.stdin.isatty():  # getpass would read an echoed line or die on EOF
        raise CliError(f"no terminal to ask for the password: set {variable}")
    try:
        return getpass.getpass("Password: ")
    except (EOFError, KeyboardInterrupt):
        raise CliError("no password given") from None


def cmd_create_owner(settings: Settings, args: argparse.Namespace) -> None:
    from classbridge.models import company as company_model
    from classbridge.models import staff as staff_model
    from classbridge.models.errors import DomainError
    from classbridge.models.inputs.company import VenueCreate
    from classbridge.models.inputs.staff import StaffUserCreate
    from classbridge.models.tables import StaffRole
    from classbridge.models.validation import parse

    password = os.environ.get("CLASSBRIDGE_OWNER_PASSWORD") or _ask_password()
    try:
        venue_input = parse(VenueCreate, {"name": args.venue, "timezone": args.timezone})
        owner = parse(
            StaffUserCreate,
            {"email": args.email, "name": args.name, "password": password, "role": StaffRole.OWNER},
        )
    except DomainError as exc:
        raise CliError(f"{exc.code}: {exc.message}") from None
    cmd_migrate(settings, args)
    database = _database(settings)

    async def run() -> tuple[str, str]:
        try:
            async with database.transaction() as db:
                company = await company_model.create_company(db=db, name=args.company)
                venue = await company_model.create_venue(
                    db=db, company_id=company.id, venue=venue_input
                )
                await staff_model.create_staff_user(db=db, company_id=company.id, user=owner)
            return str(company.id), str(venue.id)
        finally:
            await database.dispose()

    try:
        company_id, venue_id = asyncio.run(run())
    except DomainError as exc:
        raise CliError(f"{exc.code}: {exc.message}") from None
    print(
        f"company {company_id}, venue {venue_id}; sign in with the login mutation as {args.email}"
    )


def cmd_create_staff(settings: Settings, args: argparse.Namespace) -> None:
    from classbridge.models import staff as staff_model
    from classbridge.models.errors import DomainError
    from classbridge.models.inputs.staff import StaffUserCreate
    from classbridge.models.tables import Company, StaffRole
    from classbridge.models.validation import parse

    password = os.environ.get("CLASSBRIDGE_STAFF_PASSWORD") or _ask_password(
        "CLASSBRIDGE_STAFF_PASSWORD"
    )
    try:
        company_id = uuid.UUID(args.company_id)
    except ValueError:
        raise CliError(f"--company-id {args.company_id!r} is not a company UUID") from None
    try:
        user = parse(
            StaffUserCreate,
            {
                "email": args.email,
                "name": args.name,
                "password": password,
                "role": StaffRole(args.role),
            },
        )
    except DomainError as exc:
        raise CliError(f"{exc.code}: {exc.message}") from None
    cmd_migrate(settings, args)
    database = _database(settings)

    async def run() -> str:
        try:
            async with database.transaction() as db:
                if await db.get(Company, company_id) is None:
                    raise CliError(f"no company {company_id}")
                row = await staff_model.create_staff_user(db=db, company_id=company_id, user=user)
            return str(row.id)
        finally:
            await database.dispose()

    try:
        user_id = asyncio.run(run())
    except DomainError as exc:
        raise CliError(f"{exc.code}: {exc.message}") from None
    print(f"staff account {user_id} ({args.role}); sign in with the login mutation as {user.email}")


def cmd_aggregator_token(settings: Settings, args: argparse.Namespace) -> None:
    import uuid

    from classbridge.models import partner_token as token_model
    from classbridge.models.errors import DomainError
    from classbridge.models.tables import Aggregator

    cmd_migrate(settings, args)
    database = _database(settings)

    async def run() -> list[str]:
        try:
            async with database.transaction() as db:
                if args.action == "create":
                    row, token = await token_model.create_token(
                        db=db, aggregator=Aggregator(args.aggregator), label=args.label
                    )
                    return [token]
                if args.action == "revoke":
                    try:
                        token_id = uuid.UUID(args.id)
                    except ValueError:
                        raise CliError(f"{args.id!r} is not a token id") from None
                    row = await token_model.revoke_token(db=db, token_id=token_id)
                    return [f"revoked {row.id} ({row.aggregator.value})"]
                rows = await token_model.list_tokens(db=db)
                return [
                    "\t".join(
                        [
                            str(r.id),
                            r.aggregator.value,
                            f"created {r.created_at:%Y-%m-%d %H:%M}",
                            f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "active",
                            r.label or "",
                        ]
                    ).rstrip()
                    for r in rows
                ]
        finally:
            await database.dispose()

    try:
        lines = asyncio.run(run())
    except DomainError as exc:
        raise CliError(f"{exc.code}: {exc.message}") from None
    for line in lines:
        print(line)
    if args.action == "create":
        print("store this token now: it is shown only once", file=sys.stderr)


# The settings each command reads, named in its --help (serve reads them all).
_DATABASE = ["database_url"]
_LOGS = ["log_format", "log_level"]
_PUSH = [
    "egym_wellpass_push_url",
    "egym_wellpass_push_secret",
    "urban_sports_club_push_url",
    "urban_sports_club_push_secret",
    "classpass_push_url",
    "classpass_push_secret",
    "push_batch_size",
    "push_parallel_requests",
    "push_coalesce_seconds",
    "push_max_attempts",
    "retry_backoff_base_seconds",
    "retry_backoff_max_seconds",
    "push_timeout_seconds",
    "push_lease_seconds",
    "reconcile_interval_seconds",
    "reconcile_window_days",
]
SETTINGS_READ: dict[str, list[str]] = {
    "serve": list(Settings.model_fields),
    "worker": [
        *_DATABASE,
        "redis_url",
        "queue_name",
        "worker_poll_seconds",
        *_PUSH,
        "live_channel_prefix",
        *_LOGS,
    ],
    "reconcile": [*_DATABASE, *_PUSH, *_LOGS],
    "migrate": [*_DATABASE, *_LOGS],
    "aggregator-token": [*_DATABASE, *_LOGS],
    "seed-demo": [*_DATABASE, "token_ttl_days", *_LOGS],
    "create-owner": [*_DATABASE, *_LOGS],
    "create-staff": [*_DATABASE, *_LOGS],
    "export-schema": [],
    "export-roles": [],
    "simulate-aggregator": [],
}
# Read by one command straight from the environment (never stored in Settings).
_EXTRA_VARIABLES = {
    "create-owner": [("CLASSBRIDGE_OWNER_PASSWORD", "the owner's password (else asked for)")],
    "create-staff": [("CLASSBRIDGE_STAFF_PASSWORD", "the account's password (else asked for)")],
}


def settings_help(command: str) -> str:
    """The epilog of a command's --help: each CLASSBRIDGE_* variable it reads."""
    names = SETTINGS_READ[command]
    rows = [
        (f"CLASSBRIDGE_{name.upper()}", Settings.model_fields[name].description or "")
        for name in names
    ]
    rows += _EXTRA_VARIABLES.get(command, [])
    if not rows:
        return "Reads no CLASSBRIDGE_* setting."
    width = max(len(variable) for variable, _ in rows)
    lines = [f"  {variable.ljust(width)}  {text}".rstrip() for variable, text in rows]
    return "settings read (environment variables; see README, Configuration):\n" + "\n".join(lines)


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535; 0: any free port)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="classbridge",
        description="Studio management for fitness and yoga studios, and its bridge to "
        "corporate-fitness aggregators. Configured by CLASSBRIDGE_* environment variables "
        "(`classbridge serve --help` lists them all).",
    )
    parser.add_argument(
        "--version", action="version", version=f"classbridge {version('classbridge')}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=summary,
            description=description,
            epilog=settings_help(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    serve = command(
        "serve",
        "apply migrations and run the HTTP server",
        "Apply pending database migrations, then serve the staff API (/graphql, with "
        "GraphiQL for browsers), the partner API (/aggregator/v1/graphql), /healthz, /readyz "
        "and /metrics. Without CLASSBRIDGE_REDIS_URL it also pushes to aggregators and "
        "delivers live events in-process.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=port, default=8000, help="0 picks a free port")
    serve.set_defaults(func=cmd_serve)

    command(
        "worker",
        "run the arq worker that pushes to aggregators",
        "Run an arq worker that delivers the push to aggregators and the reconciliation "
        "cron. Needs CLASSBRIDGE_REDIS_URL; run as many as you like.",
    ).set_defaults(func=cmd_worker)

    command(
        "reconcile",
        "run one push reconciliation now, in this process",
        "Run one reconciliation of the push now (repairs what a failure left behind) and "
        "print how many session states were acknowledged.",
    ).set_defaults(func=cmd_reconcile)

    sim = command(
        "simulate-aggregator",
        "run a receiver of the push contract (with fault injection)",
        "Run a reference receiver of the push (docs/aggregator-push.md) that verifies "
        "signatures and can inject faults; for demos and tests.",
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=port, default=8900)
    sim.add_argument(
        "--secret",
        default="whsec_" + "c2ltdWxhdG9yLXNlY3JldC0zMi1ieXRlcy1sb25nISE=",
        help="whsec_ secret to verify signatures with (default: a fixed demo secret)",
    )
    sim.add_argument("--error-rate", type=float, default=0.0, help="share of requests -> 500")
    sim.add_argument("--latency-ms", type=int, default=0, help="added to every request")
    sim.add_argument("--down-for", type=float, default=0.0, help="answer 503 for N seconds")
    sim.add_argument("--rate-limit-count", type=int, default=0, help="answer 429 N times")
    sim.add_argument("--retry-after", type=float, default=1.0, help="Retry-After with a 429")
    sim.add_argument(
        "--path-prefix", default="", help="serve the contract under this path, e.g. /hooks/cb"
    )
    sim.set_defaults(func=cmd_simulate_aggregator)

    command(
        "migrate",
        "upgrade the database to the newest schema",
        "Upgrade the database to the newest schema (Alembic); prints what it applied. "
        "Safe to run while servers run and from several processes at once.",
    ).set_defaults(func=cmd_migrate)

    export = command(
        "export-schema",
        "print the staff API's schema (SDL)",
        "Print the GraphQL schema (SDL) of the staff API, or of the partner API.",
    )
    export.add_argument("--output", help="write to this file instead of stdout")
    export.add_argument("--partner", action="store_true", help="the partner API's schema instead")
    export.set_defaults(func=cmd_export_schema)

    roles = command(
        "export-roles",
        "print the staff roles table (Markdown)",
        "Print docs/staff-roles.md: which role may call each query, mutation and "
        "subscription of the staff API, generated from the resolvers' permission classes.",
    )
    roles.add_argument("--output", help="write to this file instead of stdout")
    roles.set_defaults(func=cmd_export_roles)

    from classbridge.models.tables import Aggregator

    tokens = command(
        "aggregator-token",
        "partner API tokens for aggregators",
        "Create, list and revoke the tokens aggregators use on the partner API. A token is "
        "shown once, when created; only its hash is stored.",
    )
    token_sub = tokens.add_subparsers(dest="action", required=True)
    create = token_sub.add_parser("create", help="create a token and print it (once)")
    create.add_argument("aggregator", choices=[a.value for a in Aggregator])
    create.add_argument("--label", help="a note, e.g. who received it")
    token_sub.add_parser("list", help="list tokens (never the tokens themselves)")
    revoke = token_sub.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id")
    tokens.set_defaults(func=cmd_aggregator_token)

    seed = command(
        "seed-demo",
        "create (or reuse) the demo studio",
        "Create the demo studio (two venues, three activities with sessions over the next "
        "14 days, customers, bookings, EGYM Wellpass connected), or reuse it. Prints the "
        "owner login, a new staff token and a new EGYM Wellpass partner token (the previous "
        "seed-demo partner token is revoked: only one stays live).",
    )
    seed.add_argument("--json", action="store_true", help="print one JSON object as last line")
    seed.set_defaults(func=cmd_seed_demo)

    owner = command(
        "create-owner",
        "create a company, its first venue and owner",
        "Create a company, its first venue and its owner, who then signs in with the login "
        "mutation.",
    )
    owner.add_argument("--company", required=True, help="company name")
    owner.add_argument("--email", required=True)
    owner.add_argument("--name", required=True, help="the owner's name")
    owner.add_argument("--venue", default="Main venue", help="name of the first venue")
    owner.add_argument("--timezone", default="Europe/Berlin", help="IANA time zone of the venue")
    owner.set_defaults(func=cmd_create_owner)

    staff = command(
        "create-staff",
        "create a staff account in an existing company (for scripts)",
        "Create a staff account for a company (its UUID: `company { id }` in the staff API, "
        "or what create-owner printed). The password follows the same policy as everywhere "
        "(at least 8 characters, not a common or easily guessed one). Prefer inviteStaff "
        "for people: they choose their own password.",
    )
    staff.add_argument("--company-id", required=True, help="the company's UUID")
    staff.add_argument("--email", required=True)
    staff.add_argument("--name", required=True, help="the person's name")
    staff.add_argument("--role", choices=["STAFF", "OWNER"], default="STAFF")
    staff.set_defaults(func=cmd_create_staff)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:  # name the variable and the reason, on one line
        problems = "; ".join(
            f"CLASSBRIDGE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        print(f"classbridge: configuration error: {problems}", file=sys.stderr)
        sys.exit(2)
    from classbridge.ops.logs import configure_logging

    configure_logging(settings)
    try:
        args.func(settings, args)
    except CliError as exc:
        print(f"classbridge: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
