"""Results are typed: timestamps become aware datetimes, lists tuples."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hall_registry import Attestation, Decision
from hall_registry.models import parse_datetime
from mock_registry import decision_json


@pytest.mark.parametrize("text, expected", [
    ("2026-11-25T17:04:54.586677123Z", datetime(2026, 11, 25, 17, 4, 54, 586677, tzinfo=timezone.utc)),
    ("2026-11-25T17:04:54Z", datetime(2026, 11, 25, 17, 4, 54, tzinfo=timezone.utc)),
    ("2026-11-25T17:04:54.5+02:00", datetime(2026, 11, 25, 17, 4, 54, 500000, tzinfo=timezone(timedelta(hours=2)))),
    ("2026-11-25T17:04:54", datetime(2026, 11, 25, 17, 4, 54, tzinfo=timezone.utc)),
])
def test_rfc3339_timestamps_of_any_precision(text: str, expected: datetime) -> None:
    assert parse_datetime(text) == expected


def test_a_decision_reads_the_seed_attributes() -> None:
    decision = Decision.from_api(decision_json(denied=True))
    assert decision.denied and not decision.allowed
    assert decision.deny_code == "DENY_CAPABILITY_NOT_DECLARED"
    assert decision.capability_id == decision.capability == "cap.data.read.v1"
    assert decision.decided_at.tzinfo is not None
    with pytest.raises(AttributeError):
        decision.denied = False  # type: ignore[misc]


def test_a_decision_names_the_key_its_receipt_records_and_none_for_older_receipts() -> None:
    key_id = "0193a1b2-5555-7000-8000-00000000000a"
    decision = Decision.from_api(decision_json(receipt={
        "receipt_hash": "ab" * 32, "receipt_version": 2, "acting_key_id": key_id}))
    assert decision.acting_key_id == key_id
    assert Decision.from_api(decision_json()).acting_key_id is None


def test_a_never_attested_worker_keeps_the_registry_status_none() -> None:
    status = Attestation.from_api({
        "worker_id": "x.a.b", "status": "none", "artifact_hash": None, "attested_at": None,
        "reason": "no attestation has been submitted",
    })
    assert status.status == "none" and not status.attested and status.attested_at is None


def test_a_submission_names_its_hash_artifact_hash() -> None:
    submitted = Attestation.from_api({
        "id": "att_1", "worker_id": "x.a.b", "sha256": "cd" * 32, "status": "attested", "kind": "card",
        "created_at": "2026-11-25T17:04:54Z", "attested_at": "2026-11-25T17:04:54Z", "ai_generated": False,
    })
    assert submitted.artifact_hash == "cd" * 32 and submitted.attested
    assert isinstance(submitted.attested_at, datetime)
