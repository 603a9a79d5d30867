"""terraform/assignment applied against a moto server, checked with boto3, planned again, destroyed.

The ``stack`` fixture (conftest.py) deploys in the documented order: the ECR
repository first, an image pushed to it, then everything else.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import APPLY_VARS, IMAGE_TAG, QUERIES_DIR, REGION, Stack

pytestmark = pytest.mark.infra

PREFIXES = {
    "DATASET_PREFIX": "dataset/orders/",
    "REPORTS_PREFIX": "analytics/",
    "REJECTS_PREFIX": "rejects/",
    "ERRORS_PREFIX": "errors/",
    "RUNS_PREFIX": "runs/",
    "STATE_PREFIX": "state/",
}
NAME = f"orders-analytics-{APPLY_VARS['candidate_name']}-{APPLY_VARS['environment']}"


def account_id(stack: Stack) -> str:
    return str(stack.client("sts").get_caller_identity()["Account"])


def role_policies(stack: Stack) -> dict[str, dict[str, Any]]:
    iam = stack.client("iam")
    role = stack.outputs["lambda_role_arn"].rsplit("/", 1)[1]
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    assert not iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"], "only inline, per-concern policies"
    return {n: iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"] for n in names}


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_outputs_name_everything(stack: Stack) -> None:
    account = account_id(stack)
    assert stack.outputs["function_name"] == NAME
    assert stack.outputs["input_bucket_name"] == f"{NAME}-{account}-input"
    assert stack.outputs["output_bucket_name"] == f"{NAME}-{account}-output"
    assert stack.outputs["athena_results_bucket_name"] == f"{NAME}-{account}-athena"
    assert stack.outputs["glue_database_name"] == "orders_analytics"
    assert stack.outputs["glue_table_name"] == "orders"
    assert stack.outputs["athena_workgroup_name"] == NAME
    assert stack.outputs["region"] == REGION
    assert stack.outputs["ecr_repository_url"].endswith(f".dkr.ecr.{REGION}.amazonaws.com/{NAME}")


def test_input_bucket_notifies_the_function_for_csv_objects(stack: Stack) -> None:
    s3 = stack.client("s3")
    config = s3.get_bucket_notification_configuration(Bucket=stack.outputs["input_bucket_name"])
    [target] = config["LambdaFunctionConfigurations"]
    function_arn = stack.client("lambda").get_function(FunctionName=NAME)["Configuration"]["FunctionArn"]
    assert target["LambdaFunctionArn"] == function_arn
    assert target["Events"] == ["s3:ObjectCreated:*"]
    rules = {r["Name"].lower(): r["Value"] for r in target["Filter"]["Key"]["FilterRules"]}
    assert rules == {"suffix": ".csv"}


def test_only_the_input_bucket_may_invoke_the_function(stack: Stack) -> None:
    policy = json.loads(stack.client("lambda").get_policy(FunctionName=NAME)["Policy"])
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    condition = statement["Condition"]
    assert condition["ArnLike"]["AWS:SourceArn"] == f"arn:aws:s3:::{stack.outputs['input_bucket_name']}"
    assert condition["StringEquals"]["AWS:SourceAccount"] == account_id(stack)


def test_function_is_an_arm64_image_with_the_documented_environment(stack: Stack) -> None:
    lam = stack.client("lambda")
    function = lam.get_function(FunctionName=NAME)
    config = function["Configuration"]
    assert config["PackageType"] == "Image"
    assert config["Architectures"] == ["arm64"]
    assert function["Code"]["ImageUri"] == f"{stack.outputs['ecr_repository_url']}:{IMAGE_TAG}"
    assert config["MemorySize"] == 4096
    assert config["Timeout"] == 900
    assert config["Role"] == stack.outputs["lambda_role_arn"]
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == 1
    assert config["Environment"]["Variables"] == {
        "OUTPUT_BUCKET": stack.outputs["output_bucket_name"],
        "GLUE_DATABASE": "orders_analytics",
        "GLUE_TABLE": "orders",
        "REPORT_ENGINE": "athena",
        "ATHENA_WORKGROUP": NAME,
        "MAX_OBJECT_BYTES": str(8 * 1024**3),
        "MAX_REJECT_RATIO": "0.25",
        "LOG_LEVEL": "INFO",
        **PREFIXES,
    }
    # The image the function runs was pushed before the function was created.
    images = stack.client("ecr").describe_images(repositoryName=NAME, imageIds=[{"imageTag": IMAGE_TAG}])
    assert images["imageDetails"]


def test_failed_events_go_to_the_failure_queue(stack: Stack) -> None:
    invoke = stack.client("lambda").get_function_event_invoke_config(FunctionName=NAME)
    queue_url = stack.outputs["failure_queue_url"]
    queue_arn = stack.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn["Attributes"]["QueueArn"]
    assert invoke["MaximumRetryAttempts"] == 2
    assert invoke["MaximumEventAgeInSeconds"] == 21600
    groups = stack.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{NAME}")["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"]) for g in groups] == [(f"/aws/lambda/{NAME}", 365)]


def test_role_policies_list_every_action_and_scope_every_resource(stack: Stack) -> None:
    policies = role_policies(stack)
    assert sorted(policies) == ["athena-reports", "failure-queue", "glue-catalog", "input-read", "logs", "output-write"]
    account = account_id(stack)
    output_arn = f"arn:aws:s3:::{stack.outputs['output_bucket_name']}"
    input_arn = f"arn:aws:s3:::{stack.outputs['input_bucket_name']}"
    athena_arn = f"arn:aws:s3:::{stack.outputs['athena_results_bucket_name']}"
    glue = f"arn:aws:glue:{REGION}:{account}"

    granted: dict[tuple[str, str], set[str]] = {}
    for name, document in policies.items():
        for statement in statements(document):
            assert statement["Effect"] == "Allow", name
            for action in as_list(statement["Action"]):
                assert "*" not in action, f"{name}: wildcard action {action}"
                for resource in as_list(statement["Resource"]):
                    assert resource != "*", f"{name}: {action} on every resource"
                    granted.setdefault((name, action), set()).add(resource)

    output_objects = {f"{output_arn}/{p}*" for p in PREFIXES.values()}
    assert granted == {
        ("input-read", "s3:GetObject"): {f"{input_arn}/*"},
        ("input-read", "s3:GetObjectVersion"): {f"{input_arn}/*"},
        ("input-read", "s3:ListBucket"): {input_arn},
        ("output-write", "s3:GetObject"): output_objects,
        ("output-write", "s3:PutObject"): output_objects,
        ("output-write", "s3:DeleteObject"): output_objects,
        ("output-write", "s3:AbortMultipartUpload"): output_objects,
        ("output-write", "s3:ListBucket"): {output_arn},
        **{
            ("glue-catalog", f"glue:{action}"): {
                f"{glue}:catalog",
                f"{glue}:database/orders_analytics",
                f"{glue}:table/orders_analytics/orders",
            }
            for action in ("GetTable", "CreateTable", "BatchCreatePartition")
        },
        ("logs", "logs:CreateLogStream"): {
            f"arn:aws:logs:{REGION}:{account}:log-group:/aws/lambda/{NAME}",
            f"arn:aws:logs:{REGION}:{account}:log-group:/aws/lambda/{NAME}:log-stream:*",
        },
        ("logs", "logs:PutLogEvents"): {
            f"arn:aws:logs:{REGION}:{account}:log-group:/aws/lambda/{NAME}",
            f"arn:aws:logs:{REGION}:{account}:log-group:/aws/lambda/{NAME}:log-stream:*",
        },
        ("failure-queue", "sqs:SendMessage"): {f"arn:aws:sqs:{REGION}:{account}:{NAME}-failures"},
        **{
            ("athena-reports", f"athena:{action}"): {f"arn:aws:athena:{REGION}:{account}:workgroup/{NAME}"}
            for action in (
                "StartQueryExecution",
                "GetQueryExecution",
                "GetQueryResults",
                "GetWorkGroup",
            )
        },
        **{
            ("athena-reports", f"glue:{action}"): {
                f"{glue}:catalog",
                f"{glue}:database/orders_analytics",
                f"{glue}:table/orders_analytics/orders",
            }
            for action in ("GetDatabase", "GetPartitions")
        },
        ("athena-reports", "s3:GetObject"): {f"{athena_arn}/*"},
        ("athena-reports", "s3:PutObject"): {f"{athena_arn}/*"},
        ("athena-reports", "s3:ListMultipartUploadParts"): {f"{athena_arn}/*"},
        ("athena-reports", "s3:AbortMultipartUpload"): {f"{athena_arn}/*"},
        ("athena-reports", "s3:ListBucket"): {athena_arn},
        ("athena-reports", "s3:GetBucketLocation"): {athena_arn, output_arn},
    }

    [listing] = [s for s in statements(policies["output-write"]) if s["Action"] in ("s3:ListBucket", ["s3:ListBucket"])]
    # Deliberately unconditioned: a prefix condition would turn a GET of a missing state object into 403.
    assert "Condition" not in listing
    trust = stack.client("iam").get_role(RoleName=stack.outputs["lambda_role_arn"].rsplit("/", 1)[1])
    [assume] = trust["Role"]["AssumeRolePolicyDocument"]["Statement"]
    assert assume["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_buckets_are_private_encrypted_and_tls_only(stack: Stack) -> None:
    s3 = stack.client("s3")
    for key in ("input_bucket_name", "output_bucket_name", "athena_results_bucket_name"):
        bucket = stack.outputs[key]
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4, bucket
        [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        tls = [s for s in policy["Statement"] if s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s)]
        assert tls and tls[0]["Condition"]["Bool"]["aws:SecureTransport"] == "false", bucket
        ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
        assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
        assert tags == {"project": "orders-analytics", "environment": "test", "owner": "ci"}, bucket

    assert s3.get_bucket_versioning(Bucket=stack.outputs["input_bucket_name"])["Status"] == "Enabled"
    assert "Status" not in s3.get_bucket_versioning(Bucket=stack.outputs["output_bucket_name"])
    [expiry] = s3.get_bucket_lifecycle_configuration(Bucket=stack.outputs["athena_results_bucket_name"])["Rules"]
    assert expiry["Status"] == "Enabled" and expiry["Expiration"]["Days"] == 7


def test_glue_database_exists_and_the_table_is_left_to_the_code(stack: Stack) -> None:
    """Terraform creates the database and the four views (Athena views, VIRTUAL_VIEW); the orders table
    is the code's (created from schema.py on the first load)."""
    glue = stack.client("glue")
    assert glue.get_database(Name="orders_analytics")["Database"]["Name"] == "orders_analytics"
    tables = glue.get_tables(DatabaseName="orders_analytics")["TableList"]
    assert all(t["TableType"] == "VIRTUAL_VIEW" for t in tables)
    assert sorted(t["Name"] for t in tables) == sorted(p.stem for p in (QUERIES_DIR / "views").glob("*.sql"))


def test_workgroup_enforces_encrypted_results_and_a_scan_cutoff(stack: Stack) -> None:
    athena = stack.client("athena")
    workgroup = athena.get_work_group(WorkGroup=NAME)["WorkGroup"]
    config = workgroup["Configuration"]
    assert workgroup["State"] == "ENABLED"
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == 10 * 1024**3
    result = config["ResultConfiguration"]
    assert result["OutputLocation"] == f"s3://{stack.outputs['athena_results_bucket_name']}/query-results/"
    assert result["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"


def test_one_named_query_per_sql_file_with_names_injected(stack: Stack) -> None:
    athena = stack.client("athena")
    ids = athena.list_named_queries(WorkGroup=NAME)["NamedQueryIds"]
    # One GetNamedQuery per id: moto has no BatchGetNamedQuery.
    queries = {q["Name"]: q for q in (athena.get_named_query(NamedQueryId=i)["NamedQuery"] for i in ids)}
    files = sorted(QUERIES_DIR.rglob("*.sql")) if QUERIES_DIR.is_dir() else []
    expected = {str(f.relative_to(QUERIES_DIR).with_suffix("")) for f in files}
    assert set(queries) == expected
    assert set(stack.outputs["athena_named_query_ids"]) == expected
    for name, query in queries.items():
        assert query["Database"] == "orders_analytics", name
        assert query["WorkGroup"] == NAME, name
        assert "${" not in query["QueryString"], f"{name}: a template variable was left unrendered"
        source = (QUERIES_DIR / f"{name}.sql").read_text()
        if "${table}" in source:
            assert '"orders"' in query["QueryString"] or "orders" in query["QueryString"], name


def test_ecr_repository_is_immutable_scanned_and_pruned(stack: Stack) -> None:
    ecr = stack.client("ecr")
    [repository] = ecr.describe_repositories(repositoryNames=[NAME])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True
    lifecycle = json.loads(ecr.get_lifecycle_policy(repositoryName=NAME)["lifecyclePolicyText"])
    [rule] = lifecycle["rules"]
    assert rule["selection"]["countType"] == "imageCountMoreThan" and rule["selection"]["countNumber"] == 10
    assert rule["action"]["type"] == "expire"


def test_plan_after_apply_shows_no_drift(stack: Stack) -> None:
    result = stack.tf(
        "plan",
        "-detailed-exitcode",
        "-input=false",
        "-no-color",
        "-var-file=vars.tfvars",
        "-var-file=moto.tfvars.json",
        check=False,
    )
    assert result.returncode == 0, (
        f"plan exit {result.returncode} (2 = changes):\n{result.stdout[-6000:]}{result.stderr}"
    )
