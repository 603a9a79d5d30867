"""Least privilege, proven: the real handler runs with exactly the applied role policy, and nothing more is allowed.

The policies are read back from the execution role that ``terraform apply``
created in moto (conftest.py's ``stack``), given unchanged to an IAM user, and
the handler runs in a subprocess with that user's keys while moto enforces IAM
(``/moto-api/reset-auth``, moto's "IAM-like Access Control").

What moto's enforcement covers, and what this harness adds:

* S3: moto checks the action and the bucket/object ARN of every request, so
  the prefixes in the policy are really exercised. ListBucket on the output
  bucket is granted at the bucket level (no s3:prefix condition; see the IAM
  module), so that is what is checked.
* Batch DeleteObjects: moto authorises it against the bucket ARN, where AWS
  authorises s3:DeleteObject per key; the harness checks each key instead.
* Glue: moto checks only the action (it passes "*" as the resource, which
  matches no ARN in a scoped policy). The harness tells moto the catalog,
  database or table ARN each Glue request touches, so the database/table
  scoping is checked too. AWS checks all three ARNs of a table call; this
  checks the most specific one.
* Bucket policies are removed for the duration of the test: moto evaluates the
  ``aws:SecureTransport`` deny against plain-HTTP emulator traffic, which
  denies every object call. Only the role policy is under test here; the
  bucket policies are restored afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.infra.conftest import REGION, REPO_ROOT, Stack, boto_client, moto_api

pytestmark = pytest.mark.infra

PROBE_USER = "least-privilege-probe"
# Spaces arrive URL-encoded as "+" in the event. No literal "+" in the key: moto ignores
# ListObjectVersions' encoding-type=url, so the provider's force_destroy would decode "+" to
# " ", delete a key that does not exist and retry for ever.
INPUT_KEY = "uploads/2026/orders week 48 (v1).csv"
CSV = (
    "Order Id,Order Date,Ship Mode,Segment,Country,City,State,Postal Code,Region,Category,"
    "Sub Category,Product Id,cost price,List Price,Quantity,Discount Percent\r\n"
    "CA-2023-1000,2023-09-05,Standard Class,Consumer,United States,San Francisco,California,94109,West,"
    "Furniture,Bookcases,FUR-BO-10001798,240,260,2,2\r\n"
    "CA-2023-1001,2023-09-06,Second Class,Corporate,United States,New York City,New York,10024,East,"
    "Technology,Phones,TEC-PH-10002033,300,350,1,0\r\n"
)

RUN_HANDLER = textwrap.dedent(
    """
    import json, sys
    from lambda_app.handler import lambda_handler

    class Context:
        aws_request_id = "least-privilege-test"
        function_name = sys.argv[2]
        memory_limit_in_mb = 4096
        invoked_function_arn = sys.argv[3]

    event = json.load(sys.stdin)
    with open(sys.argv[1], "w") as out:
        json.dump(lambda_handler(event, Context()), out, default=str)
    """
)


# --------------------------------------------------------------------------- moto harness


def _glue_resource(self: Any) -> str:
    """The ARN a Glue request acts on: table, else database, else the catalog."""
    params = json.loads(self.body or "{}")
    action = self._get_action()
    database = params.get("DatabaseName") or (params.get("DatabaseInput") or {}).get("Name")
    if database is None and action.endswith("Database"):
        database = params.get("Name")
    table = params.get("TableName") or (params.get("TableInput") or {}).get("Name")
    if table is None and database and action.endswith("Table"):
        table = params.get("Name")
    prefix = f"arn:aws:glue:{self.region}:{self.current_account}"
    if database and table:
        return f"{prefix}:table/{database}/{table}"
    if database:
        return f"{prefix}:database/{database}"
    return f"{prefix}:catalog"


@contextmanager
def moto_checks_resources(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Glue resource ARNs and per-key DeleteObjects authorisation (see the module docstring)."""
    import xmltodict
    from moto.glue.responses import GlueResponse
    from moto.s3.responses import S3Response

    original = S3Response._authenticate_and_authorize_s3_action

    def per_key(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        if key_name is None and bucket_name and self.data.get("Action") == "DeleteObject":  # batch DeleteObjects
            objects = xmltodict.parse(self.body)["Delete"].get("Object", [])
            for item in objects if isinstance(objects, list) else [objects]:
                original(self, bucket_name=bucket_name, key_name=item["Key"])
            return
        original(self, bucket_name=bucket_name, key_name=key_name)

    with monkeypatch.context() as patch:
        patch.setattr(GlueResponse, "_determine_resource", _glue_resource, raising=False)
        patch.setattr(S3Response, "_authenticate_and_authorize_s3_action", per_key)
        yield


@contextmanager
def iam_enforced(endpoint: str) -> Iterator[None]:
    """moto checks every request against the caller's IAM policies inside the block."""
    previous = json.loads(moto_api(endpoint, "reset-auth", b"0"))["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]
    try:
        yield
    finally:
        moto_api(endpoint, "reset-auth", str(previous).encode())


def denied(call: Any, **kwargs: Any) -> str:
    """Run a boto3 call that must be refused; return the error code."""
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    code = str(caught.value.response["Error"]["Code"])
    assert code in {"AccessDenied", "AccessDeniedException", "403"}, caught.value
    return code


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def probe(stack: Stack) -> Iterator[dict[str, Any]]:
    """An IAM user holding exactly the execution role's inline policies; bucket policies set aside."""
    iam = stack.client("iam")
    s3 = stack.client("s3")
    role = stack.outputs["lambda_role_arn"].rsplit("/", 1)[1]
    policies = {
        name: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
    }
    assert not iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    iam.create_user(UserName=PROBE_USER)
    for name, document in policies.items():
        iam.put_user_policy(UserName=PROBE_USER, PolicyName=name, PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=PROBE_USER)["AccessKey"]

    buckets = [stack.outputs[k] for k in ("input_bucket_name", "output_bucket_name", "athena_results_bucket_name")]
    saved = {b: s3.get_bucket_policy(Bucket=b)["Policy"] for b in buckets}
    for bucket in buckets:
        s3.delete_bucket_policy(Bucket=bucket)
    try:
        yield {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"], "policies": policies}
    finally:
        for bucket, policy in saved.items():
            s3.put_bucket_policy(Bucket=bucket, Policy=policy)
        for name in policies:
            iam.delete_user_policy(UserName=PROBE_USER, PolicyName=name)
        iam.delete_access_key(UserName=PROBE_USER, AccessKeyId=key["AccessKeyId"])
        iam.delete_user(UserName=PROBE_USER)


def s3_event(bucket: str, key: str, head: dict[str, Any]) -> dict[str, Any]:
    """The notification S3 sends for a PUT: the key URL-encoded as S3 encodes it."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-11-26T10:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AIDAEXAMPLEUPLOADER"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "orders-csv",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": urllib.parse.quote_plus(key, safe="/"),
                        "size": int(head["ContentLength"]),
                        "eTag": str(head["ETag"]).strip('"'),
                        "versionId": head.get("VersionId"),
                        "sequencer": "0069A5F0C1D2E3F400",
                    },
                },
            }
        ]
    }


# --------------------------------------------------------------------------- the test


def test_handler_succeeds_with_the_role_policy_and_everything_else_is_denied(
    stack: Stack, probe: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    input_bucket = stack.outputs["input_bucket_name"]
    output_bucket = stack.outputs["output_bucket_name"]
    unrelated_bucket = f"unrelated-{stack.outputs['function_name']}"

    # As the account root, before enforcement: the input file and things the function must not reach.
    s3 = stack.client("s3")
    s3.put_object(Bucket=input_bucket, Key=INPUT_KEY, Body=CSV.encode())
    head = s3.head_object(Bucket=input_bucket, Key=INPUT_KEY)
    s3.create_bucket(Bucket=unrelated_bucket)
    s3.put_object(Bucket=unrelated_bucket, Key="secret.csv", Body=b"not yours")
    glue = stack.client("glue")
    glue.create_database(DatabaseInput={"Name": "unrelated_db"})
    glue.create_table(DatabaseName="unrelated_db", TableInput={"Name": "secrets"})
    function = stack.client("lambda").get_function_configuration(FunctionName=stack.outputs["function_name"])

    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO_ROOT),
        **function["Environment"]["Variables"],  # exactly what the applied function gets
        # moto's Athena runs no SQL, so the reports are computed in the function.
        "REPORT_ENGINE": "local",
        "AWS_ACCESS_KEY_ID": probe["access_key"],
        "AWS_SECRET_ACCESS_KEY": probe["secret_key"],
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": stack.endpoint,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    summary_file = tmp_path / "summary.json"
    event = s3_event(input_bucket, INPUT_KEY, head)

    with moto_checks_resources(monkeypatch), iam_enforced(stack.endpoint):
        run = subprocess.run(
            [sys.executable, "-c", RUN_HANDLER, str(summary_file), function["FunctionName"], function["FunctionArn"]],
            input=json.dumps(event),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert run.returncode == 0, f"handler failed under the role policy:\n{run.stdout[-5000:]}\n{run.stderr[-5000:]}"

        as_probe = {
            service: boto_client(service, stack.endpoint, probe["access_key"], probe["secret_key"])
            for service in ("s3", "glue")
        }
        s3p, gluep = as_probe["s3"], as_probe["glue"]
        # The keys work (so the refusals below are the policy's doing) ...
        assert s3p.get_object(Bucket=input_bucket, Key=INPUT_KEY)["Body"].read() == CSV.encode()
        # ... but the input is read-only,
        denied(s3p.put_object, Bucket=input_bucket, Key="uploads/forged.csv", Body=b"x")
        denied(s3p.delete_object, Bucket=input_bucket, Key=INPUT_KEY)
        # the output bucket is writable under the six prefixes only,
        denied(s3p.put_object, Bucket=output_bucket, Key="elsewhere/x.csv", Body=b"x")
        denied(s3p.get_object, Bucket=output_bucket, Key="elsewhere/x.csv")
        # other buckets are out of reach,
        denied(s3p.get_object, Bucket=unrelated_bucket, Key="secret.csv")
        denied(s3p.list_objects_v2, Bucket=unrelated_bucket)
        denied(s3p.put_object, Bucket=unrelated_bucket, Key="x", Body=b"x")
        # and Glue is this database and table only, without database or table management.
        denied(gluep.get_table, DatabaseName="unrelated_db", Name="secrets")
        denied(gluep.get_tables, DatabaseName="unrelated_db")
        denied(gluep.create_database, DatabaseInput={"Name": "rogue"})
        denied(gluep.delete_table, DatabaseName="orders_analytics", Name="orders")

    summary = json.loads(summary_file.read_text())
    [loaded] = summary["files"]
    assert loaded["key"] == INPUT_KEY
    assert (loaded["status"], loaded["rows_loaded"], loaded["rows_rejected"]) == ("loaded", 2, 0), summary

    # What the run left behind, read as root: Parquet under the dataset prefix, the day's reports, a Glue table.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=output_bucket).get("Contents", [])]
    assert any(k.startswith("dataset/orders/ingest_date=2026-11-26/") and k.endswith(".parquet") for k in keys), keys
    assert any(k.startswith("analytics/2026/11/26/") for k in keys), keys
    assert all(
        k.split("/", 1)[0] + "/" in {"dataset/", "analytics/", "rejects/", "errors/", "runs/", "state/"} for k in keys
    )
    table = glue.get_table(DatabaseName="orders_analytics", Name="orders")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{output_bucket}/dataset/orders/"
    partitions = glue.get_partitions(DatabaseName="orders_analytics", TableName="orders")["Partitions"]
    assert [p["Values"] for p in partitions] == [["2026-11-26"]]
