"""Canned registry answers for the unit tests, served through httpx.MockTransport."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import httpx

KEY = "phk_unit_test_key_0123456789abcdefghijklmnop"
REGISTRY = "http://registry.test"


def error(status: int, code: str, message: str, headers: Optional[Dict[str, str]] = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}}, headers=headers)


class Script:
    """A MockTransport handler answering from a list, recording every request."""

    def __init__(self, *answers: Any) -> None:
        self.answers: List[Any] = list(answers)
        self.requests: List[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.answers:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    def bodies(self) -> List[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def decision_json(denied: bool = False, **overrides: Any) -> Dict[str, Any]:
    body = {
        "id": "01a213aa-dd3a-7611-bfb1-7bdf0d23339b",
        "decided_at": "2026-11-25T17:04:54.586677123Z",
        "worker_id": "x.myagent.my-agent",
        "capability_id": "cap.data.read.v1",
        "env": "dev",
        "data_label": "PUBLIC",
        "tenant_id": "org.acme",
        "correlation_id": "c0",
        "denied": denied,
        "deny_code": "DENY_CAPABILITY_NOT_DECLARED" if denied else None,
        "deny_reason": "capability not declared" if denied else None,
        "tier": 2,
        "proof": "ab" * 32,
        "receipt": {"receipt_hash": "ab" * 32},
        "supervisor_required": False,
    }
    body.update(overrides)
    return body
