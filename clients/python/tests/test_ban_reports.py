"""The operator's ban-report review list: filters, pages, and the daily report quota."""

from __future__ import annotations

from typing import Any, Dict, List

import httpx
import pytest

from hall_registry import AsyncHall, BanReportPage, Hall, RateLimited
from mock_registry import KEY, REGISTRY, Script, error

SHA = "ab" * 32


def report(n: int, **overrides: Any) -> Dict[str, Any]:
    body = {
        "id": f"rpt_{n:032x}",
        "sha256": SHA,
        "reason": f"reason {n}",
        "source": "tenant",
        "reporter_tenant": "org.acme",
        "status": "pending",
        "created_at": "2026-11-25T17:04:54Z",
    }
    body.update(overrides)
    return body


def hall_with(script: Script) -> Hall:
    return Hall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script))


def test_reports_sends_the_filters_and_cursor_and_returns_the_page_with_its_next_cursor() -> None:
    script = Script(httpx.Response(200, json={"reports": [report(1), report(2)], "next_cursor": "rpt_2"}))
    with hall_with(script) as hall:
        page = hall.ban_list.reports(
            status="pending", limit=2, sha256=SHA, reporter_tenant="org.acme", cursor="rpt_0"
        )
    assert isinstance(page, BanReportPage)
    assert [r.id for r in page] == [report(1)["id"], report(2)["id"]] and len(page) == 2
    assert page.next_cursor == "rpt_2"
    params = script.requests[0].url.params
    assert dict(params) == {
        "status": "pending",
        "limit": "2",
        "sha256": SHA,
        "reporter_tenant": "org.acme",
        "cursor": "rpt_0",
    }


def test_the_last_page_of_reports_has_no_next_cursor() -> None:
    script = Script(httpx.Response(200, json={"reports": [report(1)]}))
    with hall_with(script) as hall:
        page = hall.ban_list.reports()
    assert page.next_cursor is None
    assert "cursor" not in script.requests[0].url.params


def test_iter_reports_follows_next_cursor_with_the_same_filters() -> None:
    script = Script(
        httpx.Response(200, json={"reports": [report(1), report(2)], "next_cursor": "c2"}),
        httpx.Response(200, json={"reports": [report(3)]}),
    )
    with hall_with(script) as hall:
        ids = [r.id for r in hall.ban_list.iter_reports("pending", reporter_tenant="org.b", page_size=2)]
    assert ids == [report(n)["id"] for n in (1, 2, 3)]
    assert "cursor" not in script.requests[0].url.params
    second = script.requests[1].url.params
    assert second["cursor"] == "c2" and second["status"] == "pending"
    assert second["reporter_tenant"] == "org.b" and second["limit"] == "2"


@pytest.mark.anyio
async def test_the_async_client_pages_reports_the_same_way() -> None:
    script = Script(
        httpx.Response(200, json={"reports": [report(1)], "next_cursor": "c1"}),
        httpx.Response(200, json={"reports": [report(2)], "next_cursor": "c2"}),
        httpx.Response(200, json={"reports": [report(3)]}),
    )
    async with AsyncHall(KEY, REGISTRY, retries=0, transport=httpx.MockTransport(script)) as hall:
        page = await hall.ban_list.reports(sha256=SHA, limit=1)
        rest: List[str] = [r.id async for r in hall.ban_list.iter_reports(sha256=SHA, page_size=1)]
    assert page.next_cursor == "c1" and [r.id for r in page] == [report(1)["id"]]
    assert rest == [report(n)["id"] for n in (2, 3)]
    assert "cursor" not in script.requests[1].url.params
    assert script.requests[2].url.params["cursor"] == "c2"


def test_a_report_over_the_daily_quota_raises_rate_limited_and_is_not_repeated() -> None:
    script = Script(error(429, "quota_exceeded", "org.acme filed its 100 ban reports today"))
    with hall_with(script) as hall:
        with pytest.raises(RateLimited) as raised:
            hall.ban_list.report(SHA, "malware")
    assert raised.value.code == "quota_exceeded" and raised.value.status == 429
    assert "100 ban reports" in str(raised.value)
    assert len(script.requests) == 1
