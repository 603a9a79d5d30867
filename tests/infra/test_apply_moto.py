"""terraform/assignment applied against a moto server, checked with boto3, planned again, destroyed.

The ``stack`` fixture (conftest.py) deploys in the documented order: the ECR
repository first, an image pushed to it, then everything else, with the
default delivery (``queue``). The other delivery mode (``direct``) is checked
on the plan that would switch the applied stack to it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

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
INPUT_QUEUE = f"{NAME}-input"
DEAD_LETTER_QUEUE = f"{NAME}-input-dlq"
FAILURE_QUEUE = f"{NAME}-failures"
TIMEOUT = 900  # lambda_timeout's default
BATCHING_WINDOW = 10  # queue_batching_window_seconds' default
FUNCTION = {"FunctionName": NAME}
SERVICE = {"service": "orders-analytics"}  # POWERTOOLS_SERVICE_NAME: the dimension of the handler's EMF metrics
# Every alarm of the queue delivery: (namespace, metric, statistic, dimensions, threshold).
ALARMS: dict[str, tuple[str, str, str, dict[str, str], float]] = {
    "dead-letters": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", {"QueueName": DEAD_LETTER_QUEUE}, 0),
    "failed-events": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", {"QueueName": FAILURE_QUEUE}, 0),
    "backlog-age": ("AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum", {"QueueName": INPUT_QUEUE}, 1800),
    "errors": ("AWS/Lambda", "Errors", "Sum", FUNCTION, 0),
    "throttles": ("AWS/Lambda", "Throttles", "Sum", FUNCTION, 0),
    "duration": ("AWS/Lambda", "Duration", "Maximum", FUNCTION, 0.8 * TIMEOUT * 1000),  # ms: 80% of the timeout
    "files-rejected": ("OrdersAnalytics", "files_rejected", "Sum", SERVICE, 0),
}


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
    assert stack.outputs["delivery"] == "queue"
    assert stack.outputs["input_queue_url"].endswith(f"/{account}/{INPUT_QUEUE}")
    assert stack.outputs["dead_letter_queue_url"].endswith(f"/{account}/{DEAD_LETTER_QUEUE}")
    assert stack.outputs["failure_queue_url"].endswith(f"/{account}/{FAILURE_QUEUE}")
    assert stack.outputs["alarm_topic_arn"] == f"arn:aws:sns:{REGION}:{account}:{NAME}-alarms"
    assert stack.outputs["dashboard_name"] == NAME
    assert stack.outputs["dashboard_url"].endswith(f"#dashboards/dashboard/{NAME}")
    assert set(stack.outputs["alarm_names"].values()) == {f"{NAME}-{label}" for label in ALARMS}


def queue_arn(stack: Stack, name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{account_id(stack)}:{name}"


def test_input_bucket_notifies_the_queue_for_both_csv_suffixes(stack: Stack) -> None:
    s3 = stack.client("s3")
    config = s3.get_bucket_notification_configuration(Bucket=stack.outputs["input_bucket_name"])
    assert "LambdaFunctionConfigurations" not in config, "queue delivery: S3 does not invoke the function"
    targets = config["QueueConfigurations"]
    assert {t["QueueArn"] for t in targets} == {queue_arn(stack, INPUT_QUEUE)}
    assert all(t["Events"] == ["s3:ObjectCreated:*"] for t in targets)
    # One rule per suffix: S3's suffix filter is case-sensitive, and neither suffix ends with the other,
    # so the two rules do not overlap (S3 refuses overlapping rules of one event type).
    suffixes = sorted(
        rule["Value"] for t in targets for rule in t["Filter"]["Key"]["FilterRules"] if rule["Name"].lower() == "suffix"
    )
    assert suffixes == [".CSV", ".csv"]
    assert all(len(t["Filter"]["Key"]["FilterRules"]) == 1 for t in targets), 'no prefix rule with input_prefix = ""'


def test_only_the_input_bucket_may_send_to_the_queue(stack: Stack) -> None:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["input_queue_url"], AttributeNames=["Policy"]
    )["Attributes"]
    [statement] = json.loads(attributes["Policy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == queue_arn(stack, INPUT_QUEUE)
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    condition = statement["Condition"]
    assert condition["ArnLike"]["aws:SourceArn"] == f"arn:aws:s3:::{stack.outputs['input_bucket_name']}"
    assert condition["StringEquals"]["aws:SourceAccount"] == account_id(stack)


def test_nobody_but_the_mapping_invokes_the_function(stack: Stack) -> None:
    # Queue delivery grants S3 no invoke permission: the function has no resource policy at all.
    with pytest.raises(ClientError) as caught:
        stack.client("lambda").get_policy(FunctionName=NAME)
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_the_mapping_feeds_the_function_batches_with_partial_failures(stack: Stack) -> None:
    lam = stack.client("lambda")
    [mapping] = lam.list_event_source_mappings()["EventSourceMappings"]
    assert mapping["UUID"] == stack.outputs["event_source_mapping_uuid"]
    assert mapping["EventSourceArn"] == queue_arn(stack, INPUT_QUEUE)
    assert mapping["FunctionArn"] == lam.get_function(FunctionName=NAME)["Configuration"]["FunctionArn"]
    assert mapping["BatchSize"] == 10
    assert mapping["MaximumBatchingWindowInSeconds"] == BATCHING_WINDOW
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 5}


def test_queues_are_encrypted_and_retry_into_the_dead_letter_queue(stack: Stack) -> None:
    sqs = stack.client("sqs")
    names = ["VisibilityTimeout", "MessageRetentionPeriod", "SqsManagedSseEnabled", "RedrivePolicy"]
    queue = sqs.get_queue_attributes(QueueUrl=stack.outputs["input_queue_url"], AttributeNames=names)["Attributes"]
    # AWS's rule for Lambda event sources: at least six times the timeout (plus the batching window).
    assert int(queue["VisibilityTimeout"]) == 6 * TIMEOUT + BATCHING_WINDOW
    assert int(queue["VisibilityTimeout"]) >= 6 * TIMEOUT
    assert int(queue["MessageRetentionPeriod"]) == 4 * 86400
    assert queue["SqsManagedSseEnabled"] == "true"
    redrive = json.loads(queue["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": queue_arn(stack, DEAD_LETTER_QUEUE), "maxReceiveCount": 5}

    dead_letters = sqs.get_queue_attributes(QueueUrl=stack.outputs["dead_letter_queue_url"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert int(dead_letters["MessageRetentionPeriod"]) == 14 * 86400
    assert dead_letters["SqsManagedSseEnabled"] == "true"
    assert "RedrivePolicy" not in dead_letters
    failures = sqs.get_queue_attributes(QueueUrl=stack.outputs["failure_queue_url"], AttributeNames=["All"])
    assert failures["Attributes"]["SqsManagedSseEnabled"] == "true"


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
    # No reservation by default: correctness does not depend on it (docs/deployment.md, "Concurrency").
    assert "ReservedConcurrentExecutions" not in function.get("Concurrency", {})
    assert config["EphemeralStorage"] == {"Size": 1024}
    assert config["Environment"]["Variables"] == {
        "OUTPUT_BUCKET": stack.outputs["output_bucket_name"],
        "GLUE_DATABASE": "orders_analytics",
        "GLUE_TABLE": "orders",
        "REPORT_ENGINE": "athena",
        "ATHENA_WORKGROUP": NAME,
        "MAX_OBJECT_BYTES": str(8 * 1024**3),
        "MAX_REJECT_RATIO": "0.25",
        "LOG_LEVEL": "INFO",
        "POWERTOOLS_METRICS_NAMESPACE": "OrdersAnalytics",
        "POWERTOOLS_SERVICE_NAME": "orders-analytics",
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
    assert sorted(policies) == [
        "athena-reports",
        "failure-queue",
        "glue-catalog",
        "input-queue",
        "input-read",
        "logs",
        "output-write",
    ]
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
        # What the event source mapping does as the role (AWSLambdaSQSQueueExecutionRole's actions), one queue.
        **{
            ("input-queue", f"sqs:{action}"): {f"arn:aws:sqs:{REGION}:{account}:{INPUT_QUEUE}"}
            for action in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")
        },
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
    # Only untagged images expire: the deployed tag, and every tag a rollback may apply, stay.
    [rule] = lifecycle["rules"]
    assert rule["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 7,
    }
    assert rule["action"]["type"] == "expire"
    assert all(r["selection"]["tagStatus"] == "untagged" for r in lifecycle["rules"])


def test_alarms_watch_every_failure_signal_and_notify_the_topic(stack: Stack) -> None:
    alarms = stack.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{NAME}-")["MetricAlarms"]
    found = {a["AlarmName"].removeprefix(f"{NAME}-"): a for a in alarms}
    assert sorted(found) == sorted(ALARMS)
    topic = stack.outputs["alarm_topic_arn"]
    for label, (namespace, metric, statistic, dimensions, threshold) in ALARMS.items():
        alarm = found[label]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (namespace, metric, statistic), label
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == dimensions, label
        assert alarm["Threshold"] == threshold, label
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold", label
        assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (300, 1, 1), label
        assert alarm["TreatMissingData"] == "notBreaching", label
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic], label
        assert alarm["ActionsEnabled"] is True, label
        assert "docs/deployment.md" in alarm["AlarmDescription"], label


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(stack: Stack) -> None:
    sns, kms = stack.client("sns"), stack.client("kms")
    topic = stack.outputs["alarm_topic_arn"]
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    key = kms.describe_key(KeyId=attributes["KmsMasterKeyId"])["KeyMetadata"]
    # A customer-managed key: SNS's AWS-managed key does not let CloudWatch alarms publish.
    assert key["KeyManager"] == "CUSTOMER" and key["KeyState"] == "Enabled"
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    aliases = kms.list_aliases(KeyId=key["KeyId"])["Aliases"]
    assert [a["AliasName"] for a in aliases] == [f"alias/{NAME}-alarms"]

    key_policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    [cloudwatch] = [s for s in key_policy["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert sorted(as_list(cloudwatch["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    [account] = [s for s in key_policy["Statement"] if "AWS" in s["Principal"]]
    assert account["Principal"]["AWS"] == f"arn:aws:iam::{account_id(stack)}:root"

    [publish] = statements(json.loads(attributes["Policy"]))
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Action"] == "sns:Publish" and publish["Resource"] == topic
    alarm_arns = f"arn:aws:cloudwatch:{REGION}:{account_id(stack)}:alarm:{NAME}-*"
    assert publish["Condition"]["ArnLike"]["aws:SourceArn"] == alarm_arns
    assert publish["Condition"]["StringEquals"]["aws:SourceAccount"] == account_id(stack)

    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "data-team@example.com")]


def test_dashboard_shows_the_alarms_files_rows_per_day_and_backlog(stack: Stack) -> None:
    body = json.loads(stack.client("cloudwatch").get_dashboard(DashboardName=NAME)["DashboardBody"])
    widgets = {w["properties"].get("title", w["type"]): w for w in body["widgets"]}
    described = stack.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{NAME}-")["MetricAlarms"]
    alarm_arns = {a["AlarmArn"] for a in described}
    assert set(widgets["Alarms"]["properties"]["alarms"]) == alarm_arns and len(alarm_arns) == len(ALARMS)

    def metrics(title: str) -> list[tuple[str, str, dict[str, str]]]:
        found = []
        for line in widgets[title]["properties"]["metrics"]:
            names = [part for part in line if isinstance(part, str)]
            found.append((names[0], names[1], dict(zip(names[2::2], names[3::2], strict=True))))
        return found

    rows = widgets["Rows per day"]["properties"]
    assert rows["period"] == 86400 and rows["stat"] == "Sum"
    assert {m for _, m, d in metrics("Rows per day") if d == SERVICE} >= {"rows_loaded", "rows_rejected"}
    assert {n for n, _, _ in metrics("Rows per day")} == {"OrdersAnalytics"}
    assert {(m, tuple(d.items())) for _, m, d in metrics("Files per hour")} == {
        ("files_loaded", tuple(SERVICE.items())),
        ("files_rejected", tuple(SERVICE.items())),
    }
    assert {m for _, m, d in metrics("Invocations, errors, throttles") if d == FUNCTION} == {
        "Invocations",
        "Errors",
        "Throttles",
    }
    duration = widgets["Duration (ms) against the timeout"]["properties"]
    assert {a["value"] for a in duration["annotations"]["horizontal"]} == {0.8 * TIMEOUT * 1000, TIMEOUT * 1000}
    assert {(m, d["QueueName"]) for _, m, d in metrics("Input queue backlog")} == {
        ("ApproximateNumberOfMessagesVisible", INPUT_QUEUE),
        ("ApproximateNumberOfMessagesNotVisible", INPUT_QUEUE),
        ("ApproximateAgeOfOldestMessage", INPUT_QUEUE),
    }
    assert {d["QueueName"] for _, _, d in metrics("Events that failed for good")} == {DEAD_LETTER_QUEUE, FAILURE_QUEUE}


def test_lake_formation_mode_grants_the_role_the_catalog_permissions(stack: Stack) -> None:
    role = stack.outputs["lambda_role_arn"]
    # ListPermissions filters by principal only together with a resource: list them all, keep the role's.
    listed = stack.client("lakeformation").list_permissions()["PrincipalResourcePermissions"]
    grants = {
        json.dumps(p["Resource"], sort_keys=True): sorted(p["Permissions"])
        for p in listed
        if p["Principal"]["DataLakePrincipalIdentifier"] == role
    }
    by_kind = {next(iter(json.loads(r))): (json.loads(r), permissions) for r, permissions in grants.items()}
    assert sorted(by_kind) == ["Database", "Table"], grants
    database, on_database = by_kind["Database"]
    assert database["Database"]["Name"] == "orders_analytics"
    assert on_database == ["CREATE_TABLE", "DESCRIBE"]
    # Every table of the database: the orders table does not exist until the first run creates it.
    tables, on_tables = by_kind["Table"]
    assert tables["Table"]["DatabaseName"] == "orders_analytics" and "TableWildcard" in tables["Table"], tables
    assert on_tables == ["ALTER", "DELETE", "DESCRIBE", "INSERT", "SELECT"]


def test_direct_delivery_is_one_variable_away(stack: Stack, tmp_path: Path) -> None:
    """The plan that switches the applied stack to ``delivery = "direct"``: S3 invokes the function again."""
    plan = tmp_path / "direct.tfplan"
    stack.tf(
        "plan",
        "-refresh=false",  # the state was just applied; what changes is the plan's
        "-input=false",
        "-no-color",
        "-var-file=vars.tfvars",
        "-var-file=moto.tfvars.json",
        "-var",
        "delivery=direct",
        f"-out={plan}",
    )
    changes = json.loads(stack.tf("show", "-json", str(plan)).stdout)["resource_changes"]
    actions = {c["address"]: c["change"]["actions"] for c in changes}
    after = {c["address"]: c["change"]["after"] for c in changes}

    assert actions["module.queue[0].aws_sqs_queue.input"] == ["delete"]
    assert actions["module.queue[0].aws_sqs_queue.dead_letter"] == ["delete"]
    assert actions["module.lambda.aws_lambda_event_source_mapping.input_queue[0]"] == ["delete"]
    assert actions["module.iam.aws_iam_role_policy.input_queue[0]"] == ["delete"]
    assert actions['module.monitoring.aws_cloudwatch_metric_alarm.this["dead-letters"]'] == ["delete"]

    # Only the input bucket, of this account, may invoke the function.
    permission = after["module.lambda.aws_lambda_permission.s3[0]"]
    assert actions["module.lambda.aws_lambda_permission.s3[0]"] == ["create"]
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["principal"] == "s3.amazonaws.com"
    assert permission["source_arn"] == f"arn:aws:s3:::{stack.outputs['input_bucket_name']}"
    assert permission["source_account"] == account_id(stack)

    notification = after["module.lambda.aws_s3_bucket_notification.input"]
    assert notification["queue"] == []
    rules = notification["lambda_function"]
    assert sorted(r["filter_suffix"] for r in rules) == [".CSV", ".csv"]
    assert all(r["events"] == ["s3:ObjectCreated:*"] and r["filter_prefix"] in (None, "") for r in rules)

    # The backlog alarm watches Lambda's asynchronous queue instead (AsyncEventAge is in milliseconds).
    backlog = after['module.monitoring.aws_cloudwatch_metric_alarm.this["backlog-age"]']
    assert (backlog["namespace"], backlog["metric_name"]) == ("AWS/Lambda", "AsyncEventAge")
    assert backlog["dimensions"] == FUNCTION and backlog["threshold"] == 1800 * 1000


@pytest.mark.parametrize(
    ("variables", "refusal"),
    [
        # S3 refuses notification rules of one event type whose suffixes overlap; "csv" ends with ".csv".
        (["-var", 'input_suffixes=["csv", ".csv"]'], "input_suffixes overlap"),
        # Reserving 3 while the mapping may start 5: throttled batches would use up their receives.
        (
            ["-var", "lambda_reserved_concurrency=3"],
            "maximum_concurrency must not exceed reserved_concurrent_executions",
        ),
    ],
    ids=["overlapping-suffixes", "mapping-above-reservation"],
)
def test_configurations_aws_would_refuse_or_regret_fail_the_plan(
    stack: Stack, variables: list[str], refusal: str
) -> None:
    result = stack.tf(
        "plan",
        "-refresh=false",  # the refusals come before anything a refresh could change
        "-input=false",
        "-no-color",
        "-var-file=vars.tfvars",
        "-var-file=moto.tfvars.json",
        *variables,
        check=False,
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert refusal in " ".join(result.stderr.split()), result.stderr[-3000:]


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
