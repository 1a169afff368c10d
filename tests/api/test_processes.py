"""The processes as users start them: `kanazawa-dao serve` answers over real HTTP, and its OpenAPI description
is complete enough to generate a client (every operation named, typed, with its success schema and problem
documents for errors)."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from backend.toolchain.anvil import free_port
from tests.api_stack import REPO_ROOT


def test_serve_answers_over_http(stack):
    port = free_port()
    log = stack.tmp / "serve.log"
    process = subprocess.Popen([sys.executable, "-m", "scripts.cli", "serve", "--port", str(port)], cwd=REPO_ROOT,
                               env=stack.env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/auth/nonce", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert response.status_code == 200 and len(response.json()["nonce"]) >= 8
        missing = httpx.get(f"http://127.0.0.1:{port}/nowhere", timeout=5)
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        too_big = httpx.post(f"http://127.0.0.1:{port}/issues", content=b"x" * (2 << 20),
                             headers={"content-type": "application/json"}, timeout=10)
        assert too_big.status_code == 413 and too_big.json()["type"].endswith("/too-large")
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_openapi_is_complete_enough_for_a_client(stack):
    spec = stack.api.get("/openapi.json").json()
    operation_ids = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            operation_ids.append(op["operationId"])
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
            assert op.get("tags"), f"{method.upper()} {path} has no tag"
            success = [code for code in op["responses"] if code.startswith("2")]
            assert success, f"{method.upper()} {path} documents no success response"
            for code in success:
                content = op["responses"][code].get("content")
                if code != "204":
                    assert content, f"{method.upper()} {path} {code} has no content type"
    assert len(operation_ids) == len(set(operation_ids))
    assert len(spec["paths"]) >= 20


def test_oversized_bodies_are_refused_with_or_without_a_length(stack):
    def chunks():
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MiB, streamed without Content-Length

    for content in (b"{" + b" " * (2 << 20) + b"}", chunks()):
        response = stack.api.post("/issues", content=content, headers={"content-type": "application/json"})
        assert response.status_code == 413, response.text
        assert response.headers["content-type"] == "application/problem+json"
    small = stack.api.post("/issues", content=iter([b'{"title": "x"}']), headers={"content-type": "application/json"})
    # a small streamed body reaches the route and is parsed (the missing fields are named), not refused as a whole
    assert small.status_code == 422 and "body" in small.json()["detail"]
