"""``orders-analytics status|replay|smoke`` against the emulator: the real handler, moto's S3 and SQS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from lambda_app import paths
from orders_tools.cli import main
from orders_tools.emulator import LocalAws
from tests.helpers import csv_bytes, line

pytestmark = pytest.mark.integration

GOOD = csv_bytes(
    line("A-1", region="West"),
    line("A-2", region="East"),
    line("A-3", region="East"),
    line("A-4", region="South"),
    line("A-5", quantity="lots"),  # one bad row of five: rejected, the rest loads
)
WRONG_COLUMNS = b"name,amount\r\nwidget,3\r\n"


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def stack(aws: LocalAws, *extra: str) -> list[str]:
    return ["--output-bucket", aws.output_bucket, "--input-bucket", aws.input_bucket, *extra]


def upload_and_deliver(aws: LocalAws, key: str, body: bytes) -> dict[str, Any]:
    """Upload now and deliver the event S3 would send (its time is the upload's, as S3's is)."""
    head = aws.upload(key, body)
    return aws.deliver(aws.object_created_event(key, head, datetime.now(UTC)))


def state_of(aws: LocalAws, key: str) -> dict[str, Any]:
    settings = aws.settings()
    document: dict[str, Any] = json.loads(
        aws.read_output(paths.state_key(settings, paths.source_id(aws.input_bucket, key)))
    )
    return document


def manifest_of(aws: LocalAws, key: str) -> dict[str, Any]:
    day = datetime.now(UTC).date()
    document: dict[str, Any] = json.loads(
        aws.read_output(paths.manifest_key(aws.settings(), day, aws.input_bucket, key))
    )
    return document


def queues(aws: LocalAws) -> tuple[Any, str, str]:
    sqs = aws.adapter.session.client("sqs")
    dlq = sqs.create_queue(QueueName="orders-analytics-failures")["QueueUrl"]
    inbound = sqs.create_queue(QueueName="orders-analytics-input")["QueueUrl"]
    return sqs, dlq, inbound


def depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


# ------------------------------------------------------------------------------------------ status


def test_status_shows_a_loaded_and_a_rejected_file_and_exits_1(
    aws: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    upload_and_deliver(aws, "orders/good.csv", GOOD)
    upload_and_deliver(aws, "orders/bad.csv", WRONG_COLUMNS)
    aws.upload("orders/lost.csv", GOOD)  # its event never arrived
    capsys.readouterr()

    assert main(["status", "--date", today(), *stack(aws)]) == 1
    table = capsys.readouterr().out
    for text in ("orders/good.csv", "loaded", "orders/bad.csv", "rejected_file", "orders/lost.csv", "unprocessed"):
        assert text in table
    assert "most_profitable_region" in table

    assert main(["status", "--date", today(), "--json", *stack(aws)]) == 1
    status = json.loads(capsys.readouterr().out)
    files = {f["key"]: f for f in status["files"]}
    assert files["orders/good.csv"]["status"] == "loaded"
    assert (files["orders/good.csv"]["rows_read"], files["orders/good.csv"]["rows_loaded"]) == (5, 4)
    assert files["orders/good.csv"]["rows_rejected"] == 1
    assert files["orders/bad.csv"]["status"] == "rejected_file"
    assert files["orders/lost.csv"]["status"] == "unprocessed"
    [error] = status["errors"]
    record = json.loads(aws.read_output(error["record"]))
    assert (error["key"], error["reason"]) == ("orders/bad.csv", record["reason"])
    assert files["orders/bad.csv"]["reason"] == record["reason"]
    assert {r["name"] for r in status["reports"]} == {
        "most_profitable_region",
        "shipping_method_by_category",
        "orders_by_category",
    }
    assert all(r["written"].startswith(today()) for r in status["reports"])
    assert status["failure_queue"] is None


def test_status_of_a_clean_day_with_an_empty_failure_queue_exits_0(
    aws: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    _, dlq, _ = queues(aws)
    upload_and_deliver(aws, "orders/good.csv", GOOD)
    capsys.readouterr()
    assert main(["status", "--date", today(), "--json", *stack(aws, "--dlq-url", dlq)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [f["status"] for f in status["files"]] == ["loaded"]
    assert status["failure_queue"]["messages"] == 0
    assert status["problems"] == []


def test_status_reads_the_names_from_terraform_outputs_and_counts_the_failure_queue(
    aws: LocalAws, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    sqs, dlq, _ = queues(aws)
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"Records": []}))
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "output_bucket_name": {"sensitive": False, "type": "string", "value": aws.output_bucket},
                "input_bucket_name": {"sensitive": False, "type": "string", "value": aws.input_bucket},
                "failure_queue_url": {"sensitive": False, "type": "string", "value": dlq},
            }
        )
    )
    assert main(["status", "--json", "--outputs", str(outputs)]) == 1
    status = json.loads(capsys.readouterr().out)
    assert status["failure_queue"]["messages"] == 1
    assert status["problems"] == ["failure queue holds 1 message(s)"]


# ------------------------------------------------------------------------------------------ replay


def test_replay_of_a_key_reloads_it_with_a_newer_sequencer(aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    upload_and_deliver(aws, "orders/good.csv", GOOD)
    before = state_of(aws, "orders/good.csv")
    capsys.readouterr()

    assert main(["replay", "orders/good.csv", "--via", "local", *stack(aws)]) == 0
    printed = capsys.readouterr().out
    assert "orders/good.csv: delivered via local: orders/good.csv: loaded read=5 loaded=4 rejected=1" in printed
    after = state_of(aws, "orders/good.csv")
    assert int(after["sequencer"], 16) == int(before["sequencer"], 16) + 1
    assert after["attempt"] != before["attempt"]  # loaded again, not answered from the record
    manifest = manifest_of(aws, "orders/good.csv")
    assert (manifest["status"], manifest["decided_by"], manifest["rows_loaded"]) == ("loaded", after["sequencer"], 4)
    # exactly one copy of the rows: only the new attempt's objects are left in the partition
    sid = paths.source_id(aws.input_bucket, "orders/good.csv")
    objects = aws.output_keys(paths.source_prefix(aws.settings(), datetime.now(UTC).date(), sid))
    assert objects
    assert all(
        key.startswith(f"{paths.source_prefix(aws.settings(), datetime.now(UTC).date(), sid)}{after['attempt']}_")
        for key in objects
    )


def test_replay_dry_run_delivers_nothing(aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    upload_and_deliver(aws, "orders/good.csv", GOOD)
    before = state_of(aws, "orders/good.csv")
    keys = aws.output_keys()
    capsys.readouterr()

    assert main(["replay", "orders/good.csv", "--via", "local", "--dry-run", *stack(aws)]) == 0
    printed = capsys.readouterr().out
    assert '"key": "orders/good.csv"' in printed
    assert "orders/good.csv: would deliver" in printed
    assert state_of(aws, "orders/good.csv") == before
    assert aws.output_keys() == keys


def test_replay_of_a_missing_key_is_skipped_and_exits_1(aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "orders/never.csv", "--via", "local", *stack(aws)]) == 1
    assert (
        "orders/never.csv: skipped: s3://orders-input-local/orders/never.csv does not exist" in capsys.readouterr().out
    )


def destination_record(event: dict[str, Any]) -> dict[str, Any]:
    """What Lambda's on-failure destination puts on the queue for an asynchronous invocation that failed."""
    return {
        "version": "1.0",
        "timestamp": "2026-11-26T10:31:02.123Z",
        "requestContext": {
            "requestId": "c6f2f5d1-0000-4000-8000-000000000001",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:orders-analytics:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorMessage": "1 of 1 records failed and will be retried",
            "errorType": "RecordsFailedError",
        },
    }


def test_replay_failed_moves_a_destination_record_to_the_input_queue(
    aws: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, dlq, inbound = queues(aws)
    head = aws.upload("orders/good.csv", GOOD)
    event = aws.object_created_event("orders/good.csv", head, datetime.now(UTC))
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(destination_record(event)))

    code = main(["replay", "--failed", "--via", "queue", *stack(aws, "--dlq-url", dlq, "--queue-url", inbound)])
    assert code == 0, capsys.readouterr()
    assert "orders/good.csv: delivered via queue" in capsys.readouterr().out
    assert depth(sqs, dlq) == 0
    [message] = sqs.receive_message(QueueUrl=inbound, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"]) == event  # the original event, sequencer and time unchanged
    # moto does not poll queues for event source mappings: hand the message to the handler as the mapping would
    from orders_tools.s3_events import sqs_batch

    assert aws.deliver(sqs_batch(json.loads(message["Body"]))) == {"batchItemFailures": []}
    assert manifest_of(aws, "orders/good.csv")["rows_loaded"] == 4


def test_replay_failed_via_local_loads_the_file_and_empties_the_queue(
    aws: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, dlq, _ = queues(aws)
    head = aws.upload("orders/good.csv", GOOD)
    event = aws.object_created_event("orders/good.csv", head, datetime.now(UTC))
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(event))  # a dead-letter queue holds the event itself
    capsys.readouterr()

    assert main(["replay", "--failed", "--via", "local", *stack(aws, "--dlq-url", dlq)]) == 0
    assert "delivered via local: orders/good.csv: loaded read=5 loaded=4 rejected=1" in capsys.readouterr().out
    assert depth(sqs, dlq) == 0
    assert manifest_of(aws, "orders/good.csv")["sequencer"] == event["Records"][0]["s3"]["object"]["sequencer"]
    assert main(["status", "--date", today(), *stack(aws, "--dlq-url", dlq)]) == 0


def test_replay_failed_dry_run_leaves_the_message_in_the_queue(
    aws: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, dlq, _ = queues(aws)
    head = aws.upload("orders/good.csv", GOOD)
    event = aws.object_created_event("orders/good.csv", head, datetime.now(UTC))
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(destination_record(event)))

    assert main(["replay", "--failed", "--via", "local", "--dry-run", *stack(aws, "--dlq-url", dlq)]) == 0
    assert "would deliver" in capsys.readouterr().out
    assert len(sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])) == 1
    assert not aws.output_keys("runs/")


# ------------------------------------------------------------------------------------------- smoke


def test_smoke_passes_via_local_and_removes_what_it_uploaded(aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["smoke", "--via", "local", "--timeout", "60", *stack(aws)]) == 0
    captured = capsys.readouterr()
    assert "smoke passed" in captured.out, captured.err
    assert "loaded 7 rows, rejected 1" in captured.out
    assert f"refreshed the reports of {today()}" in captured.err
    assert not aws.adapter.list_keys(aws.input_bucket, "smoke/")
    leftovers = [k for k in aws.output_keys() if "smoke/" in k]
    assert leftovers == []
    assert not [k for k in aws.output_keys("dataset/") if k.endswith(".parquet")]
    # the day's reports were recomputed without the smoke rows
    region_report = aws.read_output(
        paths.report_key(aws.settings(), datetime.now(UTC).date(), "most_profitable_region")
    )
    assert region_report.decode().strip() == "region,total_profit"


def test_smoke_fails_with_the_reason_when_nothing_delivers(aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["smoke", "--timeout", "1", *stack(aws)]) == 1
    err = capsys.readouterr().err
    assert "smoke failed: no run manifest for s3://orders-input-local/smoke/" in err
    assert "the event did not reach the function" in err
    assert not aws.adapter.list_keys(aws.input_bucket, "smoke/")


def test_replay_of_a_day_loads_its_unprocessed_file(aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    upload_and_deliver(aws, "orders/good.csv", GOOD)
    aws.upload("orders/lost.csv", GOOD)  # its event never arrived
    capsys.readouterr()

    assert main(["replay", "--date", today(), "--via", "local", *stack(aws)]) == 0
    printed = capsys.readouterr().out
    assert "orders/lost.csv: delivered via local: orders/lost.csv: loaded read=5 loaded=4 rejected=1" in printed
    assert "orders/good.csv: delivered via local" in printed
    assert main(["status", "--date", today(), *stack(aws)]) == 0


def test_replay_takes_exactly_one_selection(aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "orders/a.csv", "--failed", "--via", "local", *stack(aws)]) == 2
    assert "exactly one of" in capsys.readouterr().err
