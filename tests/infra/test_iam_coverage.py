"""The execution role, proven against AWS's authorisation rules rather than moto's.

The real handler (``lambda_app.app.App`` with the AWS adapter on an instrumented
``boto3.Session``) runs the integration scenarios against the stack applied to
moto (conftest.py's ``stack``), with the function's own environment, under both
report engines. Every API call it makes is recorded through botocore's event
hooks (:class:`tests.infra.iam_eval.Recorder`), mapped to the authorisation
requests AWS makes for it, hidden ones included (:func:`~tests.infra.iam_eval.requests_for`),
and the role's inline policies, read back from IAM as applied, are evaluated
for each request with IAM's rules (:func:`~tests.infra.iam_eval.decide`).

Asserted: every request is allowed; every action and every resource pattern
of every statement is used by some request, or the statement (or the action's
line) in ``terraform/modules/iam`` carries a ``# iam-used-by: <who>: <why>``
comment (for grants the Lambda service uses with the role, e.g. its logs);
the hidden permissions were exercised; the bucket policies deny none of the
requests made over TLS. The evaluator is shown to refuse what AWS refuses.

The Athena workgroup is modelled without a result ACL (``AthenaModel.result_acl``
false): the BUCKET_OWNER_FULL_CONTROL option of ``modules/glue-athena`` is being
dropped in the same change (issue 12); with it, every result object also needs
s3:PutObjectAcl, which ``test_a_result_acl_needs_put_object_acl`` shows the role
does not grant.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.awsrequest
import botocore.client
import pandas as pd
import pytest
import sqlglot
from sqlglot import exp

from lambda_app.app import App
from lambda_app.aws import AwsStorage
from lambda_app.errors import RecordsFailedError
from lambda_app.settings import Settings
from orders_tools import s3_events
from orders_tools.emulator import LambdaContext, notification
from tests.helpers import csv_bytes, line
from tests.infra import iam_eval
from tests.infra.conftest import DUMMY_KEY, REGION, TERRAFORM_DIR, Stack
from tests.infra.iam_eval import Account, AthenaModel, Call, Decision, Request, Statement
from tests.integration.test_athena_reports import athena_result

pytestmark = [pytest.mark.infra, pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")]

IAM_MODULE = TERRAFORM_DIR / "modules" / "iam"
DAY1 = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
# Multipart: s3transfer splits uploads above 8 MiB; the big rejected file's rejects exceed it.
BIG_REJECT_ROWS = 70_000
MARKER = re.compile(r"#\s*iam-used-by:\s*(?P<why>\S.*)$")


# --------------------------------------------------------------------------- driving the handler


@dataclass
class Scenario:
    name: str
    engine: str
    calls: list[Call] = field(default_factory=list)
    outcome: Any = None


class Pipeline:
    """The real handler on an instrumented session, against the applied stack, as the function runs it."""

    def __init__(self, stack: Stack, recorder: iam_eval.Recorder, env: dict[str, str], engine: str) -> None:
        self.stack = stack
        self.recorder = recorder
        self.engine = engine
        session = boto3.Session(aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_KEY, region_name=REGION)
        # Before AwsStorage creates its S3 client: botocore copies a session's handlers into each new client.
        recorder.attach(session)
        session.events.register("before-call.s3.UploadPart", self._maybe_fail_part)
        self.fail_upload_part = 0  # answer this many UploadPart calls with a 500 (a transient failure)
        self.app = App(Settings.from_env({**env, "REPORT_ENGINE": engine}), AwsStorage(session))
        self.input_bucket = stack.outputs["input_bucket_name"]
        self.s3 = stack.client("s3")
        self.input_prefix = notified_prefix(self.s3, self.input_bucket)
        self.sequence = 0
        self.scenarios: list[Scenario] = []

    def _maybe_fail_part(self, context: dict[str, Any], **_: Any) -> Any:
        if self.fail_upload_part <= 0:
            return None
        self.fail_upload_part -= 1
        context["iam_coverage_injected"] = True
        response = botocore.awsrequest.AWSResponse("http://injected", 500, {}, None)
        return response, {"Error": {"Code": "InternalError", "Message": "injected by the test"}}

    def upload(self, name: str, body: bytes) -> tuple[str, dict[str, Any]]:
        key = f"{self.input_prefix}{name}"
        self.s3.put_object(Bucket=self.input_bucket, Key=key, Body=body)
        return key, dict(self.s3.head_object(Bucket=self.input_bucket, Key=key))

    def record(self, key: str, head: dict[str, Any], when: datetime) -> dict[str, Any]:
        self.sequence += 1
        [record] = notification(self.input_bucket, key, head, when, self.sequence)["Records"]
        return dict(record)

    def delete_input(self, key: str) -> None:
        versions = self.s3.list_object_versions(Bucket=self.input_bucket, Prefix=key)
        for item in [*versions.get("Versions", []), *versions.get("DeleteMarkers", [])]:
            self.s3.delete_object(Bucket=self.input_bucket, Key=item["Key"], VersionId=item["VersionId"])

    def deliver(self, name: str, event: dict[str, Any], refreshes: int = 0) -> Any:
        """Invoke the handler; ``refreshes`` days' reports are expected (Athena answers queued for them)."""
        if self.engine == "athena":
            queue_athena_answers(self.stack.endpoint, refreshes)
        before = len(self.recorder.calls)
        try:
            outcome: Any = self.app.handle(event, LambdaContext())
        except RecordsFailedError as exc:
            outcome = exc
        assert not self.recorder.hook_errors, f"{name}: {self.recorder.hook_errors}"
        if self.engine == "athena":
            assert athena_queue_length() == 0, f"{name}: fewer report queries than the {refreshes} refreshes queued"
        scenario = Scenario(name, self.engine, self.recorder.calls[before:], outcome)
        self.scenarios.append(scenario)
        return outcome


def notified_prefix(s3: Any, bucket: str) -> str:
    """The key prefix of the input bucket's notifications ("" when they filter on the suffix only)."""
    config = s3.get_bucket_notification_configuration(Bucket=bucket)
    prefixes = {
        rule["Value"]
        for kind in ("LambdaFunctionConfigurations", "QueueConfigurations", "TopicConfigurations")
        for target in config.get(kind, [])
        for rule in target.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        if rule["Name"].lower() == "prefix"
    }
    assert len(prefixes) <= 1, prefixes
    return prefixes.pop() if prefixes else ""


def queue_athena_answers(endpoint: str, refreshes: int) -> None:
    """moto runs no SQL: queue the three report answers (empty, with the reports' columns) per refresh."""
    from lambda_app.reports import REPORT_COLUMNS

    empty = [pd.DataFrame({c: pd.Series([], dtype=object) for c in cols}) for cols in REPORT_COLUMNS.values()]
    if refreshes:
        body = {"region": REGION, "results": [athena_result(f) for f in empty] * refreshes}
        request = urllib.request.Request(  # noqa: S310 - the loopback moto server
            f"{endpoint}/moto-api/static/athena/query-results",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the loopback moto server
            assert response.status == 201


def athena_queue_length() -> int:
    from moto.athena.models import athena_backends

    return sum(len(b.query_results_queue) for account in athena_backends.values() for b in account.values())


def statuses(outcome: Any) -> list[tuple[str, str | None]]:
    assert isinstance(outcome, dict), outcome
    if "batchItemFailures" in outcome:
        return [("batch_failures", str(len(outcome["batchItemFailures"])))]
    return [(f["status"], f["reason"]) for f in outcome["files"]] + [
        ("skipped", s["reason"]) for s in outcome["skipped"]
    ]


def run_scenarios(pipeline: Pipeline, *, with_multipart: bool) -> None:
    """The integration scenarios, in order, each asserting the handler's outcome."""
    good = csv_bytes(line("A-1"), line("A-2", region="East"))
    key_a, head_a1 = pipeline.upload("orders-a.csv", good)
    first = s3_events.s3_event(pipeline.record(key_a, head_a1, DAY1))
    assert statuses(pipeline.deliver("first file of a day", first, refreshes=1)) == [("loaded", None)]

    key_b, head_b = pipeline.upload("orders-b.csv", csv_bytes(line("B-1", category="Technology")))
    same_day = s3_events.s3_event(pipeline.record(key_b, head_b, DAY1))
    assert statuses(pipeline.deliver("same-day second file", same_day, refreshes=1)) == [("loaded", None)]

    assert statuses(pipeline.deliver("duplicate event", first, refreshes=1)) == [("loaded", None)]

    _, head_a2 = pipeline.upload("orders-a.csv", csv_bytes(line("A-1"), line("A-3", ship_mode="First Class")))
    reupload = s3_events.s3_event(pipeline.record(key_a, head_a2, DAY1 + timedelta(minutes=5)))
    assert statuses(pipeline.deliver("re-upload (new version)", reupload, refreshes=1)) == [("loaded", None)]

    assert statuses(pipeline.deliver("stale event", first)) == [("skipped", "stale_event")]

    key_c, head_c = pipeline.upload("orders-c.csv", b"Order Id,Order Date\r\nC-1,2023-09-05\r\n")
    rejected = s3_events.s3_event(pipeline.record(key_c, head_c, DAY1))
    [(status, _)] = statuses(pipeline.deliver("rejected file (missing columns)", rejected))
    assert status == "rejected_file"

    some_bad = csv_bytes(*(line(f"D-{i}") for i in range(4)), line("D-9", quantity="many"))
    key_d, head_d = pipeline.upload("orders-d.csv", some_bad)
    partial = s3_events.s3_event(pipeline.record(key_d, head_d, DAY1))
    outcome = pipeline.deliver("file with some rejected rows", partial, refreshes=1)
    assert statuses(outcome) == [("loaded", None)] and outcome["files"][0]["rows_rejected"] == 1

    # Replacing it deletes the old attempt's Parquet object and its rejects object in one DeleteObjects.
    _, head_d2 = pipeline.upload("orders-d.csv", csv_bytes(*(line(f"D-{i}") for i in range(5))))
    corrected = s3_events.s3_event(pipeline.record(key_d, head_d2, DAY1 + timedelta(minutes=6)))
    outcome = pipeline.deliver("corrected re-upload of a file with rejected rows", corrected, refreshes=1)
    assert statuses(outcome) == [("loaded", None)]

    if with_multipart:
        # Rejects above 8 MiB go up in parts; a part that fails makes s3transfer abort the upload.
        body = csv_bytes(*(line(f"E-{i}", quantity="many") for i in range(BIG_REJECT_ROWS)))
        key_e, head_e = pipeline.upload("orders-e.csv", body)
        big = s3_events.s3_event(pipeline.record(key_e, head_e, DAY1))
        pipeline.fail_upload_part = 1
        failed = pipeline.deliver("big rejected file, a part upload fails", big)
        assert isinstance(failed, RecordsFailedError), failed
        [(status, reason)] = statuses(pipeline.deliver("big rejected file, retried", big))
        assert (status, reason) == ("rejected_file", "too_many_rejects")

    key_f, head_f = pipeline.upload("orders-f.csv", good)
    pipeline.delete_input(key_f)
    missing = s3_events.s3_event(pipeline.record(key_f, head_f, DAY1))
    assert statuses(pipeline.deliver("missing object (deleted before delivery)", missing)) == [
        ("skipped", "object_missing")
    ]

    # The next day, through an SQS batch: a new file, and b.csv again (its rows move from day 1 to day 2).
    key_g, head_g = pipeline.upload("orders-g.csv", csv_bytes(line("G-1", region="South")))
    _, head_b2 = pipeline.upload("orders-b.csv", csv_bytes(line("B-1", category="Technology"), line("B-2")))
    batch = s3_events.sqs_batch(
        s3_events.s3_event(pipeline.record(key_g, head_g, DAY2)),
        s3_events.s3_event(pipeline.record(key_b, head_b2, DAY2)),
    )
    assert pipeline.deliver("next day (SQS batch)", batch, refreshes=2) == {"batchItemFailures": []}


# --------------------------------------------------------------------------- the stack's state


def reads_of_query(stack: Stack, call: Call) -> dict[str, Any]:
    """What Athena reads for a query, as the catalog and the bucket stand when it starts."""
    glue, s3 = stack.client("glue"), stack.client("s3")
    default_db = call.params.get("QueryExecutionContext", {}).get("Database")
    tree = sqlglot.parse_one(call.params["QueryString"], read="trino")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables = sorted({(t.db or default_db, t.name) for t in tree.find_all(exp.Table) if t.db or t.name not in ctes})
    locations: list[str] = []
    objects: list[str] = []
    for database, name in tables:
        described = glue.get_table(DatabaseName=database, Name=name)["Table"]
        pages = glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=name)
        where = [p["StorageDescriptor"]["Location"] for page in pages for p in page["Partitions"]]
        for location in where or [described["StorageDescriptor"]["Location"]]:
            url = location if location.endswith("/") else f"{location}/"
            locations.append(url)
            bucket, _, prefix = url[5:].partition("/")
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                objects += [f"s3://{bucket}/{item['Key']}" for item in page.get("Contents", [])]
    return {"tables": tables, "locations": locations, "objects": objects}


def empty_the_stack(stack: Stack) -> None:
    """Remove what a pass left: every object version in the stack's buckets, and the function's Glue table."""
    s3 = stack.client("s3")
    for name in ("input_bucket_name", "output_bucket_name", "athena_results_bucket_name"):
        bucket = stack.outputs[name]
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
    from moto.athena.models import athena_backends

    for backends in athena_backends.values():
        for backend in backends.values():
            backend.query_results_queue.clear()  # answers queued for queries that never ran
    glue = stack.client("glue")
    database, table = stack.outputs["glue_database_name"], stack.outputs["glue_table_name"]
    if table in {t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"]}:
        glue.delete_table(DatabaseName=database, Name=table)


@dataclass
class Run:
    """What the scenarios did, as AWS would authorise it."""

    scenarios: list[Scenario]
    account: Account
    requests: list[tuple[Call, list[Request]]]
    role_statements: list[Statement]
    bucket_statements: dict[str, list[Statement]]
    workgroup: dict[str, Any]


@pytest.fixture(scope="module")
def run(stack: Stack) -> Run:
    return record_run(stack)


def record_run(stack: Stack) -> Run:
    """Run the scenarios under both engines against the stack, then put the stack back as it was."""
    function = stack.client("lambda").get_function_configuration(FunctionName=stack.outputs["function_name"])
    env = dict(function["Environment"]["Variables"])
    account_id = str(stack.client("sts").get_caller_identity()["Account"])
    workgroup_name = stack.outputs["athena_workgroup_name"]
    workgroup = stack.client("athena").get_work_group(WorkGroup=workgroup_name)["WorkGroup"]
    results = workgroup["Configuration"]["ResultConfiguration"]
    account = Account(
        partition="aws",
        region=REGION,
        account_id=account_id,
        athena={workgroup_name: AthenaModel(output_location=results["OutputLocation"], result_acl=False)},
    )

    recorder = iam_eval.Recorder()
    recorder.on_call(lambda call: _snapshot_reads(stack, call))
    seen: list[tuple[str, str]] = []
    test_clients: set[int] = set()
    original = botocore.client.BaseClient._make_api_call

    def every_call(self: Any, operation: str, params: Any) -> Any:
        if id(self) not in test_clients:
            seen.append((self.meta.service_model.signing_name, operation))
        return original(self, operation, params)

    scenarios: list[Scenario] = []
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ENDPOINT_URL": stack.endpoint,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            patch.setenv(name, value)
        patch.setattr(type(stack), "client", _cached_client(test_clients))  # pytest imports conftest.py twice
        # moto applies the buckets' aws:SecureTransport deny to its plain-HTTP traffic: set them aside while the
        # scenarios run (as test_least_privilege does); they are evaluated with TLS below instead.
        s3 = stack.client("s3")
        buckets = [stack.outputs[k] for k in ("input_bucket_name", "output_bucket_name", "athena_results_bucket_name")]
        bucket_policies = {b: s3.get_bucket_policy(Bucket=b)["Policy"] for b in buckets}
        for bucket in buckets:
            s3.delete_bucket_policy(Bucket=bucket)
        patch.setattr(botocore.client.BaseClient, "_make_api_call", every_call)
        try:
            empty_the_stack(stack)
            for engine in ("local", "athena"):
                pipeline = Pipeline(stack, recorder, env, engine)
                run_scenarios(pipeline, with_multipart=engine == "local")
                scenarios += pipeline.scenarios
                empty_the_stack(stack)
        finally:
            patch.undo()
            empty_the_stack(stack)
            for bucket, policy in bucket_policies.items():
                s3.put_bucket_policy(Bucket=bucket, Policy=policy)

    made = Counter((c.service, c.operation) for c in recorder.calls)
    assert made == Counter(seen), f"calls made by clients the recorder did not see: {Counter(seen) - made}"

    iam = stack.client("iam")
    role = stack.outputs["lambda_role_arn"].rsplit("/", 1)[1]
    assert "PermissionsBoundary" not in iam.get_role(RoleName=role)["Role"], "evaluate the boundary too"
    assert not iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"], "only inline policies are evaluated"
    role_statements = [
        statement
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
        for statement in iam_eval.parse_policy(
            name, iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        )
    ]
    bucket_statements = {
        bucket: iam_eval.parse_policy(f"bucket policy of {bucket}", policy, identity=False)
        for bucket, policy in bucket_policies.items()
    }
    return Run(
        scenarios=scenarios,
        account=account,
        requests=iam_eval.requests_for(recorder.calls, account),
        role_statements=role_statements,
        bucket_statements=bucket_statements,
        workgroup=workgroup,
    )


_CLIENTS: dict[tuple[str, str], Any] = {}


def _cached_client(test_clients: set[int]) -> Any:
    """Stack.client, one client per service, marked as the test's own (not the handler's)."""

    def client(self: Stack, service: str) -> Any:
        key = (self.endpoint, service)
        if key not in _CLIENTS:
            from tests.infra.conftest import boto_client

            _CLIENTS[key] = boto_client(service, self.endpoint)
        test_clients.add(id(_CLIENTS[key]))
        return _CLIENTS[key]

    return client


def _snapshot_reads(stack: Stack, call: Call) -> None:
    if call.service == "athena" and call.operation == "StartQueryExecution" and call.status == 200:
        call.extra["reads"] = reads_of_query(stack, call)


# --------------------------------------------------------------------------- justifications in the Terraform


def justified_grants(directory: Path = IAM_MODULE) -> dict[tuple[str, str | None], str]:
    """``# iam-used-by: <who>: <why>`` comments of the IAM module: (sid, action or None for the statement) -> why.

    A marker on a line of its own inside a ``statement {`` block justifies the
    whole statement; a marker after action strings justifies those actions only.
    """
    found: dict[tuple[str, str | None], str] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in _statement_blocks(path.read_text()):
            sid = re.search(r'^\s*sid\s*=\s*"([^"]+)"', block, re.MULTILINE)
            for text in block.splitlines():
                marker = MARKER.search(text)
                if not marker:
                    continue
                if sid is None:
                    raise AssertionError(f"{path.name}: an iam-used-by marker in a statement without a sid")
                actions = re.findall(r'"([a-z0-9-]+:[A-Za-z0-9*?]+)"', text.split("#", 1)[0])
                for action in actions or [None]:
                    found[(sid.group(1), action)] = marker.group("why").strip()
    return found


def _statement_blocks(text: str) -> list[str]:
    """The bodies of every ``statement { ... }`` block (brace matching; strings here hold no braces)."""
    blocks = []
    for start in (m.end() for m in re.finditer(r"\bstatement\s*\{", text)):
        depth, index = 1, start
        while depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        blocks.append(text[start : index - 1])
    return blocks


# --------------------------------------------------------------------------- the tests


def _all_requests(run: Run) -> list[Request]:
    return [r for _, requests in run.requests for r in requests]


def test_every_call_the_handler_makes_is_allowed_by_the_role(run: Run) -> None:
    refused = []
    for call, requests in run.requests:
        for request in requests:
            verdict = iam_eval.decide(run.role_statements, request)
            if verdict.decision is not Decision.ALLOW:
                refused.append(f"{verdict.decision.value}: {request}  <- {call}")
    assert not refused, "AWS would refuse:\n" + "\n".join(dict.fromkeys(refused))


def test_the_bucket_policies_deny_nothing_the_function_does_over_tls(run: Run) -> None:
    tls = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.2"}  # the oldest TLS the SDK negotiates
    denied = []
    for request in _all_requests(run):
        if request.action.startswith("s3:"):
            bucket = request.resource.split(":::", 1)[1].split("/", 1)[0]
            over_tls = Request(request.action, request.resource, request.resource_type, {**request.context, **tls})
            denied += [
                f"{s.name}: {request}"
                for s in iam_eval.denied_by_resource_policy(run.bucket_statements[bucket], over_tls)
            ]
            plain = Request(
                request.action,
                request.resource,
                request.resource_type,
                {**request.context, "aws:SecureTransport": "false"},
            )
            assert iam_eval.denied_by_resource_policy(run.bucket_statements[bucket], plain), (
                f"plain HTTP allowed: {request}"
            )
    assert not denied, "\n".join(dict.fromkeys(denied))


def test_every_grant_is_used_by_a_call_or_justified(run: Run) -> None:
    justified = justified_grants()
    used_actions: dict[str, set[str]] = {}
    used_resources: dict[str, set[str]] = {}
    for request in _all_requests(run):
        for statement in iam_eval.decide(run.role_statements, request).allowed_by:
            used_actions.setdefault(statement.name, set()).add(str(statement.matching_action(request.action)))
            used_resources.setdefault(statement.name, set()).add(str(statement.matching_resource(request.resource)))
    unused = []
    for statement in run.role_statements:
        if (statement.sid, None) in justified:
            continue
        for action in statement.actions:
            if action not in used_actions.get(statement.name, set()) and (statement.sid, action) not in justified:
                unused.append(f"{statement.name}: action {action} is never requested")
        for resource in statement.resources:
            if resource not in used_resources.get(statement.name, set()):
                unused.append(f"{statement.name}: resource {resource} is never requested")
    assert not unused, "unused grants (remove them, or say who uses them with # iam-used-by:):\n" + "\n".join(unused)
    for (sid, action), why in justified.items():
        assert any(s.sid == sid and (action is None or action in s.actions) for s in run.role_statements), (
            f"the justification of {sid} {action or ''} ({why}) names nothing the role grants"
        )


def test_the_hidden_permissions_were_exercised(run: Run) -> None:
    """Each rule AWS applies behind a call was hit by some scenario, so the policy was tested against it."""
    requests = _all_requests(run)
    calls = [call for call, _ in run.requests]
    assert any(c.operation == "HeadObject" and c.missing for c in calls), "the missing input object"
    assert any(c.operation == "GetObject" and c.missing for c in calls), "the first read of a source's state"
    assert any(r.action == "s3:ListBucket" and "404" in r.why for r in requests)
    assert any(c.operation == "GetObject" and c.params.get("VersionId") for c in calls)
    assert any(r.action == "s3:GetObjectVersion" for r in requests)
    for call, mapped in run.requests:
        if call.operation == "PutObject" and {"IfMatch", "IfNoneMatch"} & set(call.params):
            assert [r.action for r in mapped] == ["s3:PutObject"], call
    deletes = [(c, rs) for c, rs in run.requests if c.operation == "DeleteObjects"]
    assert any(len(c.params["Delete"]["Objects"]) > 1 for c, _ in deletes)
    assert all(len(rs) == len(c.params["Delete"]["Objects"]) for c, rs in deletes)
    multipart = {c.operation for c in calls}
    assert {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload"} <= multipart
    table_calls = [rs for c, rs in run.requests if c.service == "glue" and c.operation != "GetDatabase"]
    assert table_calls
    assert all({r.resource_type for r in rs} == {"rootcatalog", "database", "table"} for rs in table_calls)
    athena_as_caller = {r.action for r in requests if r.why.startswith("Athena")}
    assert athena_as_caller >= {
        "glue:GetTable",
        "glue:GetPartitions",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
        "s3:GetBucketLocation",
        "s3:ListMultipartUploadParts",
        "s3:AbortMultipartUpload",
    }
    assert {(s.engine, s.name) for s in run.scenarios} >= {(e, "first file of a day") for e in ("local", "athena")}


def test_a_result_acl_needs_put_object_acl(run: Run) -> None:
    """With the workgroup's BUCKET_OWNER_FULL_CONTROL option, Athena would need s3:PutObjectAcl: not granted."""
    [(name, model)] = run.account.athena.items()
    with_acl = Account(
        run.account.partition,
        run.account.region,
        run.account.account_id,
        {name: AthenaModel(model.output_location, result_acl=True)},
    )
    requests = [r for _, rs in iam_eval.requests_for([c for c, _ in run.requests], with_acl) for r in rs]
    acl = [r for r in requests if r.action == "s3:PutObjectAcl"]
    assert acl
    assert all(iam_eval.decide(run.role_statements, r).decision is Decision.IMPLICIT_DENY for r in acl)


# --------------------------------------------------------------------------- the evaluator refuses what AWS refuses

ACCOUNT = Account("aws", REGION, "123456789012")


def policy(*statements: dict[str, Any]) -> list[Statement]:
    return iam_eval.parse_policy("test", {"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: str | list[str], resources: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def verdicts(statements: list[Statement], *calls: Call) -> list[tuple[str, Decision]]:
    return [
        (r.action, iam_eval.decide(statements, r).decision)
        for _, requests in iam_eval.requests_for(calls, ACCOUNT)
        for r in requests
    ]


def test_get_object_of_a_version_needs_get_object_version() -> None:
    only_get = policy(allow("s3:GetObject", "arn:aws:s3:::in/*"))
    current = Call("s3", "GetObject", {"Bucket": "in", "Key": "a.csv"}, status=200)
    versioned = Call("s3", "GetObject", {"Bucket": "in", "Key": "a.csv", "VersionId": "v1"}, status=206)
    assert verdicts(only_get, current) == [("s3:GetObject", Decision.ALLOW)]
    assert verdicts(only_get, versioned) == [("s3:GetObjectVersion", Decision.IMPLICIT_DENY)]


def test_a_missing_key_answers_404_only_with_list_bucket_without_a_prefix_condition() -> None:
    head = Call("s3", "HeadObject", {"Bucket": "in", "Key": "gone.csv"}, status=404, error_code="404")
    reads = allow("s3:GetObject", "arn:aws:s3:::in/*")
    assert verdicts(policy(reads), head)[1] == ("s3:ListBucket", Decision.IMPLICIT_DENY)
    prefixed = allow("s3:ListBucket", "arn:aws:s3:::in", Condition={"StringLike": {"s3:prefix": "incoming/*"}})
    assert verdicts(policy(reads, prefixed), head)[1] == ("s3:ListBucket", Decision.IMPLICIT_DENY)
    assert verdicts(policy(reads, allow("s3:ListBucket", "arn:aws:s3:::in")), head)[1] == (
        "s3:ListBucket",
        Decision.ALLOW,
    )


def test_prefix_conditions_are_evaluated_against_the_requests_prefix() -> None:
    listing = allow(
        "s3:ListBucket", "arn:aws:s3:::out", Condition={"StringLike": {"s3:prefix": ["dataset/*", "state/"]}}
    )
    statements = policy(listing)

    def lists(prefix: str | None) -> Decision:
        params = {"Bucket": "out"} if prefix is None else {"Bucket": "out", "Prefix": prefix}
        [(_, decision)] = verdicts(statements, Call("s3", "ListObjectsV2", params, status=200))
        return decision

    assert lists("dataset/orders/ingest_date=2026-11-26/") is Decision.ALLOW
    assert lists("state/") is Decision.ALLOW
    assert lists("state/sources/") is Decision.IMPLICIT_DENY  # "state/" has no wildcard
    assert lists("analytics/") is Decision.IMPLICIT_DENY
    assert lists(None) is Decision.IMPLICIT_DENY  # no prefix in the request: the key is absent
    negated = policy(allow("s3:ListBucket", "arn:aws:s3:::out", Condition={"StringNotLike": {"s3:prefix": "secret/*"}}))
    assert verdicts(negated, Call("s3", "ListObjectsV2", {"Bucket": "out"}, status=200))[0][1] is Decision.ALLOW


def test_delete_objects_is_authorised_key_by_key() -> None:
    statements = policy(allow("s3:DeleteObject", "arn:aws:s3:::out/dataset/*"))
    delete = Call(
        "s3", "DeleteObjects", {"Bucket": "out", "Delete": {"Objects": [{"Key": "dataset/a"}, {"Key": "runs/b"}]}}
    )
    assert verdicts(statements, delete) == [
        ("s3:DeleteObject", Decision.ALLOW),
        ("s3:DeleteObject", Decision.IMPLICIT_DENY),
    ]


def test_a_conditional_put_is_put_object_with_its_condition_keys() -> None:
    put = Call("s3", "PutObject", {"Bucket": "out", "Key": "state/x.json", "IfNoneMatch": "*"}, status=200)
    [(_, [request])] = iam_eval.requests_for([put], ACCOUNT)
    assert (request.action, dict(request.context)) == ("s3:PutObject", {"s3:if-none-match": "*"})
    only_conditional = policy(
        allow("s3:PutObject", "arn:aws:s3:::out/state/*", Condition={"Null": {"s3:if-none-match": "false"}})
    )
    assert iam_eval.decide(only_conditional, request).decision is Decision.ALLOW
    plain = Call("s3", "PutObject", {"Bucket": "out", "Key": "state/x.json"}, status=200)
    assert verdicts(only_conditional, plain) == [("s3:PutObject", Decision.IMPLICIT_DENY)]


def test_glue_table_calls_need_the_catalog_the_database_and_the_table() -> None:
    table_only = policy(allow("glue:GetTable", "arn:aws:glue:us-east-1:123456789012:table/db/orders"))
    get_table = Call("glue", "GetTable", {"DatabaseName": "db", "Name": "orders"}, status=200)
    assert [d for _, d in verdicts(table_only, get_table)] == [
        Decision.IMPLICIT_DENY,  # catalog
        Decision.IMPLICIT_DENY,  # database
        Decision.ALLOW,
    ]
    all_three = policy(
        allow(
            "glue:GetTable",
            [
                "arn:aws:glue:us-east-1:123456789012:catalog",
                "arn:aws:glue:us-east-1:123456789012:database/db",
                "arn:aws:glue:us-east-1:123456789012:table/db/*",
            ],
        )
    )
    assert {d for _, d in verdicts(all_three, get_table)} == {Decision.ALLOW}


def test_wildcards_deny_and_not_action_follow_iam() -> None:
    statements = policy(
        allow("s3:Get?bject", "arn:aws:s3:::out/dataset/*"),
        allow("glue:*", "*"),
        {"Effect": "Deny", "NotAction": "glue:Get*", "Resource": "arn:aws:glue:*"},
    )

    def decision(action: str, resource: str) -> Decision:
        return iam_eval.decide(statements, Request(action, resource, "")).decision

    assert decision("s3:GetObject", "arn:aws:s3:::out/dataset/x.parquet") is Decision.ALLOW
    assert decision("S3:GETOBJECT", "arn:aws:s3:::out/dataset/x.parquet") is Decision.ALLOW  # actions ignore case
    assert decision("s3:GetObjectVersion", "arn:aws:s3:::out/dataset/x") is Decision.IMPLICIT_DENY  # ? is one char
    assert decision("s3:GetObject", "arn:aws:s3:::out/Dataset/x") is Decision.IMPLICIT_DENY  # resources keep case
    assert decision("s3:GetObject", "arn:aws:s3:::out/datasets") is Decision.IMPLICIT_DENY
    assert decision("glue:GetTable", "arn:aws:glue:us-east-1:1:table/a/b") is Decision.ALLOW
    assert decision("glue:DeleteTable", "arn:aws:glue:us-east-1:1:table/a/b") is Decision.EXPLICIT_DENY


def test_arn_conditions_match_part_by_part() -> None:
    statements = policy(
        allow("sqs:SendMessage", "*", Condition={"ArnLike": {"aws:SourceArn": "arn:aws:s3:::orders-*"}}),
    )
    request = Request(
        "sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q", "queue", {"aws:SourceArn": "arn:aws:s3:::orders-in"}
    )
    assert iam_eval.decide(statements, request).decision is Decision.ALLOW
    other = Request(
        "sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q", "queue", {"aws:SourceArn": "arn:aws:sns:x:1:orders-in"}
    )
    assert iam_eval.decide(statements, other).decision is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    "statement",
    [
        allow("s3:ListBucket", "*", Condition={"ForAnyValue:StringLike": {"s3:prefix": "a*"}}),
        allow("s3:GetObject", "*", Condition={"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}}),
        allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}/*"),
        {**allow("s3:GetObject", "*"), "Principal": "*"},
    ],
    ids=["set operator", "date operator", "policy variable", "principal in an identity policy"],
)
def test_what_the_evaluator_does_not_implement_fails_instead_of_passing(statement: dict[str, Any]) -> None:
    with pytest.raises(iam_eval.UnsupportedPolicyError):
        policy(statement)


def test_a_call_without_a_mapping_or_against_the_reference_fails() -> None:
    with pytest.raises(iam_eval.UnmappedCallError):
        iam_eval.requests_for([Call("s3", "PutBucketPolicy", {"Bucket": "b"})], ACCOUNT)
    with pytest.raises(iam_eval.ReferenceMismatchError):
        iam_eval.request("s3:GetObjects", "object", why="typo", Partition="aws", BucketName="b", ObjectName="k")
    with pytest.raises(iam_eval.ReferenceMismatchError):
        iam_eval.request("s3:ListBucket", "object", why="wrong type", Partition="aws", BucketName="b", ObjectName="k")
    only_the_table = [
        iam_eval.request("glue:GetTable", "table", why="x", DatabaseName="d", TableName="t", **ACCOUNT.ids)
    ]
    with pytest.raises(iam_eval.ReferenceMismatchError, match="requires"):
        iam_eval.check_against_reference(only_the_table)


def test_the_justification_markers_are_read_from_the_terraform(tmp_path: Path) -> None:
    (tmp_path / "x.tf").write_text(
        'data "aws_iam_policy_document" "x" {\n'
        "  statement {\n"
        "    # iam-used-by: lambda-service: writes logs\n"
        '    sid     = "Logs"\n'
        '    actions = ["logs:PutLogEvents"]\n'
        "  }\n"
        "  statement {\n"
        '    sid     = "Mixed"\n'
        "    actions = [\n"
        '      "s3:GetObject",\n'
        '      "s3:PutObject", "s3:PutObjectAcl", # iam-used-by: athena: results\n'
        "    ]\n"
        "  }\n"
        "}\n"
    )
    assert justified_grants(tmp_path) == {
        ("Logs", None): "lambda-service: writes logs",
        ("Mixed", "s3:PutObject"): "athena: results",
        ("Mixed", "s3:PutObjectAcl"): "athena: results",
    }


def test_the_athena_model_matches_the_applied_workgroup(run: Run) -> None:
    """The model writes results where the workgroup says, enforced, and without an ACL option."""
    [(name, model)] = run.account.athena.items()
    configuration = run.workgroup["Configuration"]
    assert run.workgroup["Name"] == name
    assert configuration["EnforceWorkGroupConfiguration"] is True  # clients cannot choose another location
    assert configuration["ResultConfiguration"]["OutputLocation"] == model.output_location
    acl = configuration["ResultConfiguration"].get("AclConfiguration")
    if acl:
        pytest.xfail(
            f"the applied workgroup still sets the result ACL {acl['S3AclOption']}, which needs s3:PutObjectAcl"
            " (see test_a_result_acl_needs_put_object_acl); issue 12 drops it in modules/glue-athena"
        )
