"""Schemathesis against the real server's OpenAPI document: no generated input may get a 5xx.

Bounded (examples per operation and a time budget) and seeded, so CI is repeatable; set
OCTIPUS_FUZZ_SEED to explore other inputs and OCTIPUS_FUZZ_EXAMPLES for a longer run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess

SEED = os.environ.get("OCTIPUS_FUZZ_SEED", "20261204")
EXAMPLES = os.environ.get("OCTIPUS_FUZZ_EXAMPLES", "25")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The default server, with executions streams that end after a second (the fuzzer reads
    each response whole)."""
    env = {"OCTIPUS_STREAM_MAX_SECONDS": "1"}
    proc = ServerProcess(tmp_path_factory.mktemp("fuzz"), env).start()
    yield proc
    proc.kill()


@pytest.mark.slow
@pytest.mark.timeout(330)
def test_no_generated_request_gets_a_server_error(server: ServerProcess, tmp_path: Path):
    st = Path(sys.executable).with_name("st")
    done = subprocess.run(
        [
            str(st),
            "run",
            f"{server.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {server.token}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            EXAMPLES,
            "--seed",
            SEED,
            "--workers",
            "1",
            "--max-time",
            "180",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "API Operations" in done.stdout, done.stdout[-2000:]


def test_openapi_documents_the_ingress(server: ServerProcess):
    """The fuzz above covers the ingress only because the document describes it."""
    document = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    ingress = document["paths"]["/api/webhooks/{path}"]["post"]
    assert ingress["security"] == []
    assert {"202", "401", "404", "413"} <= set(ingress["responses"])
