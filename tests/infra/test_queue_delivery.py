"""End to end through the applied stack's queue: uploads -> S3 notification -> SQS -> the real handler -> reports.

The S3 notifications are moto's own: the applied bucket notification sends
one message per matching upload to the applied input queue. What moto does not
do is run the event source mapping: its stand-in hands each new message to the
function in a Docker container (these machines have none), so the test pauses
the mapping, as an operator would (``update-event-source-mapping
--no-enabled``), and does the poller's job itself, the way AWS documents it:

1. receive up to ``BatchSize`` messages (the queue's visibility timeout hides them),
2. invoke the function with them as one SQS event,
3. delete the messages the answer's ``batchItemFailures`` does not name;
   the named ones reappear when the visibility timeout ends (here: the test
   sets their visibility to 0 instead of waiting 90 minutes),
4. after ``maxReceiveCount`` receives, SQS itself (moto's redrive) moves a
   message to the dead-letter queue.

The function is the real handler: ``App.from_env`` with exactly the applied
function's environment (the Lambda INIT), reused for every batch as a warm
execution environment is. moto's Athena runs no SQL, so the reports are
computed in the function (``REPORT_ENGINE=local``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import pytest

from tests.infra.conftest import REGION, Stack, aws_env, bucket_policies_set_aside

pytestmark = pytest.mark.infra

HEADER = (
    "Order Id,Order Date,Ship Mode,Segment,Country,City,State,Postal Code,Region,Category,"
    "Sub Category,Product Id,cost price,List Price,Quantity,Discount Percent\r\n"
)
ROW = (
    "CA-2026-{n},2026-03-0{d},{mode},Consumer,United States,Seattle,Washington,98103,{region},"
    "{category},{sub},OFF-PA-1000{n},10,{price},{qty},0\r\n"
)
GOOD = HEADER + "".join(
    ROW.format(n=n, d=n % 9 + 1, mode=mode, region=region, category=cat, sub=sub, price=price, qty=qty)
    for n, (mode, region, cat, sub, price, qty) in enumerate(
        [
            ("Standard Class", "West", "Office Supplies", "Paper", 25, 3),
            ("Second Class", "East", "Furniture", "Chairs", 90, 1),
            ("First Class", "West", "Technology", "Phones", 120, 2),
        ],
        start=1,
    )
)
UPPER = HEADER + ROW.format(
    n=7, d=7, mode="Same Day", region="South", category="Technology", sub="Phones", price=200, qty=1
)
WRONG_COLUMNS = "id,when,what\r\n1,2026-03-01,paper\r\n"

# A message no S3 object backs (sent by hand, like a bad replay): its record names a bucket no S3
# call can reach (an invalid name), so every delivery fails, and the handler reports it as failed.
POISON_BUCKET = "not a bucket"


@dataclass
class Context:
    """The parts of Lambda's context object the handler reads."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str = "queue-delivery-test"
    memory_limit_in_mb: int = 4096


class Poller:
    """What the event source mapping does with the queue, step by step (see the module docstring)."""

    def __init__(self, stack: Stack, handle: Any, context: Context) -> None:
        self.sqs = stack.client("sqs")
        self.url = stack.outputs["input_queue_url"]
        self.arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.handle = handle
        self.context = context
        [mapping] = stack.client("lambda").list_event_source_mappings(EventSourceArn=self.arn)["EventSourceMappings"]
        self.batch_size = int(mapping["BatchSize"])

    def receive(self, expected: int, timeout: float = 10) -> list[dict[str, Any]]:
        """Up to one batch; waits until ``expected`` messages arrived (S3 notifications are asynchronous)."""
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(messages) < min(expected, self.batch_size) and time.monotonic() < deadline:
            messages += self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                AttributeNames=["All"],
                WaitTimeSeconds=1,
            ).get("Messages", [])
        return messages

    def event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The SQS event the mapping invokes the function with (the envelope Lambda documents)."""
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m["Attributes"],
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        }

    def deliver(self, messages: list[dict[str, Any]]) -> set[str]:
        """Invoke with one batch, delete what succeeded; return the ids the function reported failed."""
        answer = self.handle(self.event(messages), self.context)
        failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        assert failed <= {m["MessageId"] for m in messages}, answer
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            result = self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
            assert not result.get("Failed"), result
        return failed

    def visibility_timeout_ends(self, messages: list[dict[str, Any]]) -> None:
        for m in messages:
            self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)

    def drain(self) -> list[str]:
        """Delete what earlier tests and the notification's set-up left in the queue; return the bodies."""
        bodies = []
        while batch := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", []):
            bodies += [m["Body"] for m in batch]
            for m in batch:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        return bodies


@pytest.fixture
def paused_mapping(stack: Stack) -> Iterator[str]:
    """The event source mapping disabled for the test (moto's stand-in would try Docker), enabled again after."""
    lam = stack.client("lambda")
    uuid = stack.outputs["event_source_mapping_uuid"]
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    try:
        yield uuid
    finally:
        lam.update_event_source_mapping(UUID=uuid, Enabled=True)


@pytest.fixture
def function(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Context]:
    """The real handler, built the way Lambda's INIT builds it, with the applied function's environment."""
    configuration = stack.client("lambda").get_function_configuration(FunctionName=stack.outputs["function_name"])
    for name, value in aws_env(stack.endpoint).items():
        monkeypatch.setenv(name, value)  # the AWS adapter's boto3 session reads the process environment
    from lambda_app.app import App

    env = {**configuration["Environment"]["Variables"], "REPORT_ENGINE": "local"}
    app = App.from_env(env)
    return app.handle, Context(configuration["FunctionName"], configuration["FunctionArn"])


@pytest.fixture
def plain_http_allowed(stack: Stack) -> Iterator[None]:
    """The buckets' TLS-only policies set aside: moto applies their deny to its plain-HTTP traffic."""
    with bucket_policies_set_aside(stack, "input_bucket_name", "output_bucket_name"):
        yield


def test_uploads_reach_the_reports_through_the_queue_and_a_poison_message_ends_in_the_dead_letter_queue(
    stack: Stack, paused_mapping: str, plain_http_allowed: None, function: tuple[Any, Context]
) -> None:
    from lambda_app.paths import error_key, manifest_key, report_key
    from lambda_app.reports import REPORT_NAMES
    from lambda_app.settings import Settings
    from orders_tools.s3_events import object_created_record, s3_event

    s3, sqs = stack.client("s3"), stack.client("sqs")
    input_bucket, output_bucket = stack.outputs["input_bucket_name"], stack.outputs["output_bucket_name"]
    handle, context = function
    poller = Poller(stack, handle, context)
    poller.drain()

    # Four uploads: two suffixes that the two notification rules match, a bad file, and a key no rule matches.
    uploads = {
        "queue-e2e/orders.csv": GOOD,
        "queue-e2e/ORDERS-2.CSV": UPPER,
        "queue-e2e/wrong columns.csv": WRONG_COLUMNS,
        "queue-e2e/notes.txt": "not orders\n",
    }
    started = datetime.now(UTC)
    for key, body in uploads.items():
        s3.put_object(Bucket=input_bucket, Key=key, Body=body.encode())
    poison = s3_event(
        object_created_record(
            bucket=POISON_BUCKET, key="ghost.csv", size=1, etag="0" * 32, event_time=started, sequencer="00"
        )
    )
    sqs.send_message(QueueUrl=poller.url, MessageBody=json.dumps(poison))

    # 1. One batch: the three .csv/.CSV notifications and the poison message; nothing for notes.txt.
    batch = poller.receive(expected=4)
    bodies = [json.loads(m["Body"]) for m in batch]
    records = [r for b in bodies for r in b["Records"] if r["s3"]["bucket"]["name"] != POISON_BUCKET]
    assert {r["s3"]["bucket"]["name"] for r in records} == {input_bucket}
    assert {r["eventName"] for r in records} == {"ObjectCreated:Put"}
    # S3 URL-encodes keys in notifications (moto encodes "/" too; AWS leaves it).
    assert sorted(unquote_plus(r["s3"]["object"]["key"]) for r in records) == sorted(
        k for k in uploads if k != "queue-e2e/notes.txt"
    )
    [poison_message] = [m for m in batch if POISON_BUCKET in m["Body"]]

    # 2-3. The function loads the files, refreshes the day's reports once, and names only the poison message.
    failed = poller.deliver(batch)
    assert failed == {poison_message["MessageId"]}

    settings = Settings.from_env({"OUTPUT_BUCKET": output_bucket})
    day = started.date()
    for key, rows in (("queue-e2e/orders.csv", 3), ("queue-e2e/ORDERS-2.CSV", 1)):
        manifest_object = s3.get_object(Bucket=output_bucket, Key=manifest_key(settings, day, input_bucket, key))
        manifest = json.loads(manifest_object["Body"].read())
        assert (manifest["status"], manifest["rows_loaded"], manifest["rows_rejected"]) == ("loaded", rows, 0), manifest
    error_object = error_key(settings, day, input_bucket, "queue-e2e/wrong columns.csv")
    error = json.loads(s3.get_object(Bucket=output_bucket, Key=error_object)["Body"].read())
    assert error["status"] == "rejected_file", error
    for name in REPORT_NAMES:
        report = s3.get_object(Bucket=output_bucket, Key=report_key(settings, day, name))
        assert report["LastModified"] >= started.replace(microsecond=0), name
        assert report["Body"].read().decode().count("\n") >= 2, f"{name}: a header and at least one row"
    regions = s3.get_object(Bucket=output_bucket, Key=report_key(settings, day, "most_profitable_region"))
    assert {"West", "East", "South"} <= set(regions["Body"].read().decode().replace(",", "\n").split())

    # 4. The poison message comes back after each visibility timeout, fails each time, and after
    # maxReceiveCount receives SQS moves it to the dead-letter queue.
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=poller.url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    )
    receives = 1
    pending = [poison_message]
    while pending:
        poller.visibility_timeout_ends(pending)
        pending = poller.receive(expected=1, timeout=2)
        if pending:
            receives += 1
            assert [m["MessageId"] for m in pending] == [poison_message["MessageId"]]
            assert int(pending[0]["Attributes"]["ApproximateReceiveCount"]) == receives
            assert poller.deliver(pending) == {poison_message["MessageId"]}
    assert receives == int(redrive["maxReceiveCount"])

    dead_letters = sqs.receive_message(QueueUrl=stack.outputs["dead_letter_queue_url"], MaxNumberOfMessages=10)
    [dead] = dead_letters["Messages"]
    assert dead["MessageId"] == poison_message["MessageId"] and json.loads(dead["Body"]) == poison
    # What the dead-letters alarm watches (ApproximateNumberOfMessagesVisible) once the message is visible again.
    sqs.change_message_visibility(
        QueueUrl=stack.outputs["dead_letter_queue_url"], ReceiptHandle=dead["ReceiptHandle"], VisibilityTimeout=0
    )
    depth = sqs.get_queue_attributes(
        QueueUrl=stack.outputs["dead_letter_queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert depth == "1"
    assert poller.drain() == []  # every file of the batch was deleted: nothing else waits
    sqs.purge_queue(QueueUrl=stack.outputs["dead_letter_queue_url"])
