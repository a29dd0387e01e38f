"""`rota submit / status / fetch` without a network: an unused port for the connection error,
an in-process httpx transport standing in for the API everywhere else."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import httpx
import pytest

from domain.cli import client
from domain.cli.main import main
from domain.cli.views import job_summary

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "domain" / "samples" / "sample.json"
JOB_ID = "5f0c6f38-5b9e-4a53-9d0f-3c1d2b0a9e11"
SUMMARY = {
    "status": "optimal",
    "solver": "cp-sat",
    "objective": 12,
    "lower_bound": 12,
    "penalties": {"requests_on": 2, "requests_off": 3, "cover_under": 7, "cover_over": 0},
    "hard_violations": 0,
    "assignments": 40,
    "solve_seconds": 1.25,
}


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("ROTA_API_URL", "http://rota.test")
    monkeypatch.setenv("ROTA_API_KEY", "rota_" + "k" * 43)
    monkeypatch.setattr(client, "POLL_SECONDS", 0.0)
    return monkeypatch


class FakeApi:
    """Answers like the API: a submitted job runs for two polls, then ends as `final`."""

    def __init__(self, final: str = "succeeded") -> None:
        self.final = final
        self.polls = 0
        self.requests: list[httpx.Request] = []

    def view(self, status: str) -> dict:
        job: dict = {"id": JOB_ID, "status": status}
        if status == "running":
            job["progress"] = {"objective": 20, "bound": 9, "elapsed_seconds": 0.8}
            job["progress"]["solver"] = "cp-sat"
        if status == "succeeded":
            job["summary"] = SUMMARY
        if status == "failed":
            job["error"] = {"code": "NO_SOLUTION", "detail": "no roster within 2 s"}
        return job

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST" and request.url.path == "/v1/jobs":
            return httpx.Response(202, json=self.view("queued"))
        if request.url.path == f"/v1/jobs/{JOB_ID}":
            self.polls += 1
            return httpx.Response(200, json=self.view("running" if self.polls < 3 else self.final))
        if request.url.path == f"/v1/jobs/{JOB_ID}/solution":
            return httpx.Response(200, content=b'{"status":"optimal","assignments":[]}')
        return httpx.Response(
            404,
            json={
                "title": "Not Found",
                "status": 404,
                "detail": "no such job",
                "code": "JOB_NOT_FOUND",
            },
            headers={"Content-Type": "application/problem+json"},
        )


def serve(monkeypatch: pytest.MonkeyPatch, handler) -> None:
    real = client.Api
    transport = httpx.MockTransport(handler)
    monkeypatch.setattr(client, "Api", lambda config: real(config, transport=transport))


# --- configuration and transport errors ----------------------------------------------------


def test_a_missing_api_key_is_one_clear_line(capsys, monkeypatch):
    monkeypatch.delenv("ROTA_API_KEY", raising=False)
    code, out, err = run(capsys, "submit", SAMPLE)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "ROTA_API_KEY is not set" in err


def test_a_url_without_scheme_is_refused(capsys, env):
    env.setenv("ROTA_API_URL", "localhost:8000")
    code, _, err = run(capsys, "status", JOB_ID)
    assert code == 2
    assert "ROTA_API_URL must start with http://" in err


@pytest.mark.parametrize("argv", [("submit", SAMPLE), ("status", JOB_ID), ("fetch", JOB_ID)])
def test_nothing_listening_is_a_clear_message_not_a_traceback(capsys, env, argv):
    url = f"http://127.0.0.1:{unused_port()}"
    env.setenv("ROTA_API_URL", url)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err == f"rota: cannot connect to the Rota API at {url}: is it running " + (
        "(`rota dev up`)? ROTA_API_URL says where it is\n"
    )


def test_a_bad_problem_file_is_reported_before_any_request(capsys, env, tmp_path):
    api = FakeApi()
    serve(env, api)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    code, _, err = run(capsys, "submit", bad)
    assert code == 2
    assert "invalid" in err.lower() or "bad.json" in err
    assert api.requests == []


# --- submit ---------------------------------------------------------------------------------


def test_submit_prints_the_job_id_and_sends_the_time_limit(capsys, env):
    api = FakeApi()
    serve(env, api)
    code, out, _ = run(capsys, "submit", SAMPLE, "--time-limit", "2")
    assert code == 0
    assert out == f"{JOB_ID}\n"
    (post,) = api.requests
    assert post.headers["Authorization"] == "Bearer rota_" + "k" * 43
    assert post.headers["Content-Type"] == "application/json"
    assert json.loads(post.content)["options"]["time_limit_seconds"] == 2.0


def test_submit_wait_ends_with_the_summary_and_exit_0(capsys, env):
    serve(env, FakeApi("succeeded"))
    code, out, _ = run(capsys, "submit", SAMPLE, "--wait")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == JOB_ID
    assert "status:          succeeded" in lines
    assert any(x.startswith("objective:       12 (requests on 2") for x in lines)
    assert f"solution:        rota fetch {JOB_ID}" in lines


@pytest.mark.parametrize("final", ["failed", "cancelled"])
def test_submit_wait_exits_1_when_the_job_does_not_succeed(capsys, env, final):
    serve(env, FakeApi(final))
    code, out, _ = run(capsys, "submit", SAMPLE, "--wait")
    assert code == 1
    assert f"status:          {final}" in out
    if final == "failed":
        assert "error:           NO_SOLUTION: no roster within 2 s" in out


def test_the_progress_line_shows_objective_bound_and_elapsed_on_a_terminal(env):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    serve(env, FakeApi())
    err = Terminal()
    with client.Api(client.ClientConfig.from_env()) as api:
        job = client.wait_for(api, JOB_ID, err)
    assert job["status"] == "succeeded"
    shown = err.getvalue()
    assert "objective 20" in shown
    assert "bound 9" in shown
    assert "0.8s" in shown
    assert shown.endswith("\r\x1b[K")  # cleared before the summary is printed


def test_validation_errors_are_listed_one_per_line(capsys, env):
    def invalid(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            422,
            json={
                "type": "urn:rota:problem:validation-failed",
                "title": "Unprocessable Entity",
                "status": 422,
                "detail": "the problem has 2 issues",
                "code": "VALIDATION_FAILED",
                "correlation_id": "c0ffee",
                "errors": [
                    {"path": "$.employees[0].id", "code": "DUPLICATE", "message": "used twice"},
                    {"path": "$.cover[3].shift", "code": "UNKNOWN", "message": "no shift N"},
                ],
            },
        )

    serve(env, invalid)
    code, out, err = run(capsys, "submit", SAMPLE)
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        "rota: Unprocessable Entity (HTTP 422, VALIDATION_FAILED): the problem has 2 issues",
        "  $.employees[0].id: DUPLICATE: used twice",
        "  $.cover[3].shift: UNKNOWN: no shift N",
    ]


def test_an_error_answer_without_json_still_reads_well(capsys, env):
    serve(env, lambda request: httpx.Response(502, text="<html>bad gateway</html>"))
    code, _, err = run(capsys, "status", JOB_ID)
    assert code == 2
    assert err == "rota: the Rota API answered HTTP 502 Bad Gateway\n"


def test_a_rejected_key_says_to_check_it(capsys, env):
    def unauthorized(request: httpx.Request) -> httpx.Response:
        body = {"title": "Unauthorized", "status": 401, "code": "UNAUTHORIZED"}
        return httpx.Response(401, json=body)

    serve(env, unauthorized)
    code, _, err = run(capsys, "status", JOB_ID)
    assert code == 2
    assert err.splitlines() == [
        "rota: Unauthorized (HTTP 401, UNAUTHORIZED)",
        "  check ROTA_API_KEY",
    ]


# --- status, fetch --------------------------------------------------------------------------


def test_status_of_an_unknown_job_shows_the_problem_document(capsys, env):
    serve(env, FakeApi())
    code, _, err = run(capsys, "status", "nope")
    assert code == 2
    assert err == "rota: Not Found (HTTP 404, JOB_NOT_FOUND): no such job\n"


def test_status_json_is_the_api_view(capsys, env):
    serve(env, FakeApi())
    code, out, _ = run(capsys, "status", JOB_ID, "--json")
    assert code == 0
    assert json.loads(out) == FakeApi().view("running")


def test_fetch_writes_the_solution_to_stdout_or_a_file(capsys, env, tmp_path):
    serve(env, FakeApi())
    code, out, _ = run(capsys, "fetch", JOB_ID)
    assert code == 0
    assert json.loads(out)["status"] == "optimal"

    target = tmp_path / "out" / "solution.json"
    code, out, err = run(capsys, "fetch", JOB_ID, "-o", target)
    assert code == 0
    assert out == ""
    assert err == f"wrote {target}\n"
    assert json.loads(target.read_text())["assignments"] == []


def test_a_running_job_summary_shows_its_progress():
    text = job_summary(FakeApi().view("running"))
    assert "progress:        0.8 s, cp-sat, objective 20, bound 9" in text
    assert "objective:  " not in text  # no summary yet


def test_a_server_error_quotes_the_correlation_id(capsys, env):
    def broken(request: httpx.Request) -> httpx.Response:
        body = {
            "title": "Internal Server Error",
            "status": 500,
            "code": "INTERNAL_ERROR",
            "detail": "an unexpected error occurred; quote the correlation_id when reporting it",
            "correlation_id": "4bf92f3577b34da6",
        }
        return httpx.Response(500, json=body)

    serve(env, broken)
    code, _, err = run(capsys, "status", JOB_ID)
    assert code == 2
    assert err.endswith("(correlation_id 4bf92f3577b34da6)\n")
