"""Load shapes of `make bench-api`, chosen by the BENCH_SCENARIO environment variable.

get_job: GET /v1/jobs/{id} of one finished job (served from the API's in-process cache).
get_queued: GET /v1/jobs/{id} of a queued job whose row the benchmark changes once a second,
  as a running job's progress writes do: the path of a client polling a job that is still
  moving. Served from memory between changes where the API has the change feed; run also
  against an API without it (ROTA_DB_CHANGE_FEED=off), where every request reads the database.
post_job: POST /v1/jobs with a small problem (validation, hashing, one transaction, publish).
hello: GET /hello of the bare Litestar app (the ceiling of this server set-up).

FastHttpUser (geventhttpclient) keeps the load generator's own CPU use low: on 2 cores it
shares the machine with the server it measures.
"""

from __future__ import annotations

import os

from locust import FastHttpUser, constant, task

SCENARIO = os.environ.get("BENCH_SCENARIO", "hello")
HEADERS = {"Authorization": f"Bearer {os.environ.get('BENCH_API_KEY', '')}"}
JOB_ID = os.environ.get("BENCH_JOB_ID", "")
QUEUED_ID = os.environ.get("BENCH_QUEUED_ID", "")
BODY_FILE = os.environ.get("BENCH_BODY_FILE", "")
BODY = open(BODY_FILE, "rb").read() if BODY_FILE else b""  # noqa: SIM115 (read once at import)


class Client(FastHttpUser):
    wait_time = constant(0)

    @task
    def request(self) -> None:
        if SCENARIO == "get_job":
            self.client.get(f"/v1/jobs/{JOB_ID}", headers=HEADERS, name="GET /v1/jobs/{id}")
        elif SCENARIO == "get_queued":
            self.client.get(f"/v1/jobs/{QUEUED_ID}", headers=HEADERS, name="GET /v1/jobs/{id}")
        elif SCENARIO == "post_job":
            self.client.post(
                "/v1/jobs",
                data=BODY,
                headers={**HEADERS, "Content-Type": "application/json"},
                name="POST /v1/jobs",
            )
        else:
            self.client.get("/hello", name="GET /hello")
