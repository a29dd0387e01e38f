"""`rota submit`, `rota status`, `rota fetch`: the REST API from the command line (httpx).

The API is found through ROTA_API_URL (default http://127.0.0.1:8000, where `rota dev up`
serves it) and called with the key in ROTA_API_KEY. Every failure the user can act on (no key,
nothing listening, an error answer from the API) is a `UsageError`: a short message, exit 2.
Waiting for a job ends in exit 0 when it succeeded and 1 when it failed or was cancelled.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import httpx
import msgspec

from domain.cli import files
from domain.cli.files import UsageError
from domain.cli.render import ProgressLine
from domain.cli.views import job_summary
from domain.problem import encode

DEFAULT_API_URL = "http://127.0.0.1:8000"
TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.5
FINISHED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class ClientConfig:
    api_url: str
    api_key: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClientConfig:
        # Read here rather than in domain.settings: these are settings of the client's shell,
        # not of the service, and `rota submit` must not fail on a bad service variable.
        env = os.environ if env is None else env
        url = env.get("ROTA_API_URL", "").strip() or DEFAULT_API_URL
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"ROTA_API_URL must start with http:// or https://, got {url!r}")
        key = env.get("ROTA_API_KEY", "").strip()
        if not key:
            raise UsageError(
                "ROTA_API_KEY is not set: export the key that `rota dev up` prints "
                "(or one from `rota admin create-api-key`)"
            )
        return cls(api_url=url.rstrip("/"), api_key=key)


class Api:
    """A thin httpx client that turns transport failures and error answers into UsageError."""

    def __init__(
        self,
        config: ClientConfig,
        timeout: float = TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,  # tests answer in-process
    ) -> None:
        self.url = config.api_url
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=config.api_url,
            headers={"Authorization": f"Bearer {config.api_key}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise UsageError(
                f"cannot connect to the Rota API at {self.url}: is it running "
                "(`rota dev up`)? ROTA_API_URL says where it is"
            ) from None
        except httpx.TimeoutException:
            raise UsageError(
                f"the Rota API at {self.url} did not answer within {self.timeout:g} s"
            ) from None
        except httpx.HTTPError as error:
            raise UsageError(f"request to the Rota API at {self.url} failed: {error}") from None
        if response.status_code >= 400:
            raise UsageError(error_message(response))
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, path, **kwargs)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise UsageError(
                f"the Rota API at {self.url} answered {method} {path} with something "
                "other than a JSON object"
            )
        return data


def _issue_line(issue: object) -> str:
    if not isinstance(issue, dict):
        return str(issue)
    where = issue.get("path") or issue.get("key") or issue.get("loc") or ""
    code = issue.get("code") or ""
    text = issue.get("message") or issue.get("detail") or issue.get("msg") or ""
    return ": ".join(str(x) for x in (where, code, text) if x) or json.dumps(issue)


def error_message(response: httpx.Response) -> str:
    """The RFC 9457 problem document of an error answer, for people: title, detail, code,
    then each validation issue on a line of its own."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        reason = response.reason_phrase or "error"
        return f"the Rota API answered HTTP {response.status_code} {reason}"
    title = problem.get("title") or response.reason_phrase or "error"
    line = f"{title} (HTTP {response.status_code}"
    line += f", {problem['code']})" if problem.get("code") else ")"
    detail = problem.get("detail")
    if detail and detail != title:
        line += f": {detail}"
    if response.status_code >= 500 and problem.get("correlation_id"):
        line += f" (correlation_id {problem['correlation_id']})"  # what the detail asks for
    # `errors`: the API's field issues; `checks`: what /health/ready found down.
    issues = problem.get("errors") or problem.get("issues") or problem.get("checks") or []
    if isinstance(issues, dict):
        issues = [f"{k}: {v}" for k, v in issues.items()]
    lines = [line] + [f"  {_issue_line(i)}" for i in issues if i]
    if response.status_code == 401:
        lines.append("  check ROTA_API_KEY")
    return "\n".join(lines)


def _job_path(job_id: str) -> str:
    return f"/v1/jobs/{quote(job_id.strip(), safe='')}"


# --- submit --------------------------------------------------------------------------------


def _body(path: Path, time_limit: float | None) -> bytes:
    problem = files.load_problem(path)  # validated here: mistakes are found before any upload
    if time_limit is not None:
        options = msgspec.structs.replace(problem.options, time_limit_seconds=time_limit)
        problem = msgspec.structs.replace(problem, options=options)
    return encode(problem)


@dataclass(frozen=True)
class _Progress:
    """What ProgressLine reads (the attributes of domain.solver.runner.Progress), without
    importing the solver stack into an HTTP client."""

    objective: int | None
    bound: int | None
    elapsed: float
    solver: str


def _progress_of(job: dict[str, Any], waited: float) -> _Progress:
    if job.get("status") != "running":
        return _Progress(None, None, waited, str(job.get("status", "?")))
    p = job.get("progress") or {}
    return _Progress(
        p.get("objective"),
        p.get("bound"),
        float(p.get("elapsed_seconds") or 0.0),
        str(p.get("solver") or "running"),
    )


def wait_for(api: Api, job_id: str, err: TextIO) -> dict[str, Any]:
    """Poll the job until it ends, showing its progress on `err`; the final job view."""
    line = ProgressLine(err, prefix=f"{job_id[:8]}  ")
    started = time.monotonic()
    try:
        while True:
            job = api.json("GET", _job_path(job_id))
            if job.get("status") in FINISHED:
                return job
            line(_progress_of(job, time.monotonic() - started))  # type: ignore[arg-type]
            time.sleep(POLL_SECONDS)
    finally:
        line.clear()


def cmd_submit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    config = ClientConfig.from_env()
    body = _body(args.problem, args.time_limit)
    with Api(config) as api:
        job = api.json(
            "POST", "/v1/jobs", content=body, headers={"Content-Type": "application/json"}
        )
        job_id = str(job.get("id", ""))
        if not job_id:
            raise UsageError(f"the Rota API at {api.url} accepted the job but sent no id")
        print(job_id, file=out, flush=True)  # first, alone on its line: `JOB=$(rota submit ..)`
        if not args.wait:
            return 0
        try:
            job = wait_for(api, job_id, err)
        except KeyboardInterrupt:
            print(f"rota: stopped waiting; the job goes on: rota status {job_id}", file=err)
            return 130
    print(job_summary(job), file=out)
    return 0 if job.get("status") == "succeeded" else 1


# --- status, fetch -------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    config = ClientConfig.from_env()
    with Api(config) as api:
        job = api.json("GET", _job_path(args.job))
    if args.json:
        print(json.dumps(job, indent=2), file=out)
    else:
        print(job_summary(job), file=out)
    return 0


def cmd_fetch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    config = ClientConfig.from_env()
    with Api(config) as api:
        response = api.request("GET", f"{_job_path(args.job)}/solution")
    text = response.text if response.text.endswith("\n") else response.text + "\n"
    if args.output is None:
        out.write(text)
    else:
        files.write_text(args.output, text)
        print(f"wrote {args.output}", file=err)
    return 0


def register(commands: Any, positive_float: Any) -> None:
    """Add `rota submit`, `rota status` and `rota fetch` to the sub-command parsers."""
    env_help = f"The API: ROTA_API_URL (default {DEFAULT_API_URL}) with the key in ROTA_API_KEY."
    p = commands.add_parser(
        "submit",
        help="submit a problem to the API and print the job id",
        description=f"Submit a problem as a job; print its id. {env_help}",
        epilog="Exit codes with --wait: 0 succeeded, 1 failed or cancelled, 2 a user error.",
    )
    p.add_argument("problem", type=Path, metavar="PROBLEM", help="problem JSON or Curtois .txt")
    p.add_argument(
        "--wait", action="store_true", help="show progress until the job ends, then a summary"
    )
    p.add_argument(
        "--time-limit",
        type=positive_float,
        metavar="S",
        help="the job's time limit in seconds (default: the problem's options; the server caps it)",
    )
    p.set_defaults(handler=cmd_submit)

    p = commands.add_parser(
        "status",
        help="show a job's state and summary",
        description=f"Show a job's state, progress or summary. {env_help}",
    )
    p.add_argument("job", metavar="JOB", help="the job id")
    p.add_argument("--json", action="store_true", help="print the job as the API returns it")
    p.set_defaults(handler=cmd_status)

    p = commands.add_parser(
        "fetch",
        help="download a finished job's solution JSON",
        description=f"Download a finished job's solution JSON. {env_help}",
    )
    p.add_argument("job", metavar="JOB", help="the job id")
    p.add_argument("-o", "--output", type=Path, metavar="OUT", help="write here, not stdout")
    p.set_defaults(handler=cmd_fetch)
