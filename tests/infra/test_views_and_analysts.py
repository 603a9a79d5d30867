"""What BI users get from the applied stack: Athena views in Glue, parameterised saved queries,
an engine-3 workgroup, and an analyst policy that reaches the dataset and views and nothing else.

Runs against the moto-applied root module of conftest.py's ``stack``. The views are read back
from Glue and decoded as Athena decodes them; their SQL is checked against the view files,
parsed with Trino's grammar and run locally. The analyst policy is proven as the Lambda's role
is in test_least_privilege.py: an IAM user holding only the managed policy, moto enforcing IAM
(S3 by action and object ARN; Glue and Athena by action, plus the ARN the harness passes). Where moto is
lenient (S3 ListBucket conditions, the Athena data catalog), the applied document is checked against
AWS's documented rules instead.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orders_tools import sql
from tests.infra.conftest import QUERIES_DIR, Stack, boto_client
from tests.infra.test_least_privilege import denied, iam_enforced, moto_checks_resources

pytestmark = pytest.mark.infra

DATABASE = "orders_analytics"
VIEW_FILES = sorted((QUERIES_DIR / "views").glob("*.sql"))
PRESTO_PREFIX, PRESTO_SUFFIX = "/* Presto View: ", " */"
ANALYST = "analyst-probe"


def decode_presto_view(original_text: str) -> dict[str, Any]:
    assert original_text.startswith(PRESTO_PREFIX) and original_text.endswith(PRESTO_SUFFIX), original_text[:80]
    encoded = original_text[len(PRESTO_PREFIX) : -len(PRESTO_SUFFIX)]
    return dict(json.loads(base64.b64decode(encoded, validate=True)))


# ------------------------------------------------------------------------- workgroup


def test_workgroup_pins_engine_version_3_and_sets_no_result_acl(stack: Stack) -> None:
    config = stack.client("athena").get_work_group(WorkGroup=stack.outputs["athena_workgroup_name"])["WorkGroup"][
        "Configuration"
    ]
    assert config["EngineVersion"]["SelectedEngineVersion"] == "Athena engine version 3"
    assert "AclConfiguration" not in config["ResultConfiguration"]


def test_saved_queries_are_the_files_with_the_date_as_a_parameter(stack: Stack) -> None:
    athena = stack.client("athena")
    ids = stack.outputs["athena_named_query_ids"]
    for name, query_id in ids.items():
        query = athena.get_named_query(NamedQueryId=query_id)["NamedQuery"]
        path = QUERIES_DIR / f"{name}.sql"
        expected = sql.render(path.read_text(encoding="utf-8"), database=DATABASE, table="orders")
        assert query["QueryString"] == expected, name
        assert sql.query_parameters(expected, None) == (() if name.startswith("views/") else ("ALL",)), name


# ----------------------------------------------------------------------------- views


@pytest.fixture(scope="module")
def glue_views(stack: Stack) -> dict[str, dict[str, Any]]:
    glue = stack.client("glue")
    return {p.stem: glue.get_table(DatabaseName=DATABASE, Name=p.stem)["Table"] for p in VIEW_FILES}


def test_every_view_file_is_an_athena_view_in_the_catalog(stack: Stack, glue_views: dict[str, Any]) -> None:
    assert sorted(stack.outputs["athena_view_names"]) == sorted(glue_views) == [p.stem for p in VIEW_FILES]
    for name, table in glue_views.items():
        assert table["TableType"] == "VIRTUAL_VIEW", name
        assert table["Parameters"] == {"presto_view": "true", "comment": "Presto View"}, name
        assert table["ViewExpandedText"] == "/* Presto View */", name


def test_the_presto_view_encoding_holds_the_view_files_sql_and_columns(glue_views: dict[str, Any]) -> None:
    for path in VIEW_FILES:
        view = sql.view_definition(path, database=DATABASE, table="orders")
        table = glue_views[view.name]
        presto = decode_presto_view(table["ViewOriginalText"])
        assert presto == {
            "originalSql": view.sql,
            "catalog": "awsdatacatalog",
            "schema": DATABASE,
            "columns": [{"name": c.name, "type": c.presto_type} for c in view.columns],
        }, view.name
        hive = [{"Name": c["Name"], "Type": c["Type"]} for c in table["StorageDescriptor"]["Columns"]]
        assert hive == [{"Name": c.name, "Type": c.hive_type} for c in view.columns], view.name
        # The columns are the view's output schema, as the SQL computes it.
        assert view.columns == sql.view_columns()[view.name]


def test_the_decoded_view_sql_is_trino_sql_and_runs_locally(glue_views: dict[str, Any], tmp_path: Path) -> None:
    from trino_query_parser import parse_statement

    from tests.integration.test_queries_local import ROWS, write_dataset

    out = write_dataset(tmp_path, ROWS)
    for path in VIEW_FILES:
        presto = decode_presto_view(glue_views[path.stem]["ViewOriginalText"])
        parse_statement(presto["originalSql"])
        from_catalog = sql.run_local(presto["originalSql"], out)
        from_file = sql.run_local(path, out)
        assert list(from_catalog.columns) == [c["name"] for c in presto["columns"]], path.stem
        assert not from_catalog.empty, path.stem
        ordered = list(from_file.columns)
        assert (
            from_catalog.sort_values(ordered)
            .reset_index(drop=True)
            .equals(from_file.sort_values(ordered).reset_index(drop=True))
        ), path.stem


# --------------------------------------------------------------------------- analysts


def _athena_resource(self: Any) -> str:
    """The ARN an Athena request acts on (moto passes "*"): its workgroup, else its data catalog, else "*"."""
    from moto.athena.models import athena_backends

    params = json.loads(self.body or "{}")
    action = self._get_action()
    backend = athena_backends[self.current_account][self.region]
    prefix = f"arn:aws:athena:{self.region}:{self.current_account}"
    workgroup = params.get("WorkGroup")
    execution_ids = params.get("QueryExecutionIds") or [params.get("QueryExecutionId")]
    if workgroup is None and execution_ids[0] in backend.executions:
        found = backend.executions[execution_ids[0]].workgroup
        workgroup = found.name if found is not None else "primary"
    named_ids = params.get("NamedQueryIds") or [params.get("NamedQueryId")]
    if workgroup is None and named_ids[0] in backend.named_queries:
        workgroup = backend.named_queries[named_ids[0]].workgroup.name
    if workgroup is None and action.endswith("WorkGroup"):
        workgroup = params.get("Name")
    if workgroup is None and action == "StartQueryExecution":
        workgroup = "primary"
    if workgroup:
        return f"{prefix}:workgroup/{workgroup}"
    catalog = params.get("CatalogName") or (params.get("Name") if action.endswith("DataCatalog") else None)
    return f"{prefix}:datacatalog/{catalog}" if catalog else "*"


def analyst_document(stack: Stack) -> dict[str, Any]:
    iam = stack.client("iam")
    arn = stack.outputs["analyst_policy_arn"]
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return json.loads(document) if isinstance(document, str) else dict(document)


@pytest.fixture
def analyst(stack: Stack) -> Iterator[dict[str, Any]]:
    """An IAM user with only the analyst policy attached; bucket policies set aside (see test_least_privilege).

    Athena requests are authorised against the workgroup (or data catalog) ARN they act on, as AWS does;
    moto alone would check the action only.
    """
    iam = stack.client("iam")
    s3 = stack.client("s3")
    iam.create_user(UserName=ANALYST)
    iam.attach_user_policy(UserName=ANALYST, PolicyArn=stack.outputs["analyst_policy_arn"])
    key = iam.create_access_key(UserName=ANALYST)["AccessKey"]
    buckets = [stack.outputs[k] for k in ("input_bucket_name", "output_bucket_name", "athena_results_bucket_name")]
    saved = {b: s3.get_bucket_policy(Bucket=b)["Policy"] for b in buckets}
    for bucket in buckets:
        s3.delete_bucket_policy(Bucket=bucket)
    try:
        yield {
            service: boto_client(service, stack.endpoint, key["AccessKeyId"], key["SecretAccessKey"])
            for service in ("s3", "glue", "athena", "iam")
        }
    finally:
        for bucket, policy in saved.items():
            s3.put_bucket_policy(Bucket=bucket, Policy=policy)
        iam.detach_user_policy(UserName=ANALYST, PolicyArn=stack.outputs["analyst_policy_arn"])
        iam.delete_access_key(UserName=ANALYST, AccessKeyId=key["AccessKeyId"])
        iam.delete_user(UserName=ANALYST)


def test_analyst_reads_the_dataset_and_views_and_nothing_else(
    stack: Stack, analyst: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    output, results = stack.outputs["output_bucket_name"], stack.outputs["athena_results_bucket_name"]
    s3, glue = stack.client("s3"), stack.client("glue")
    dataset_key = "dataset/orders/ingest_date=2026-11-26/part-0.parquet"
    private = ["rejects/2026/11/26/x.csv", "errors/x.json", "runs/x.json", "state/x.json", "analytics/2026/11/26/r.csv"]
    for key in [dataset_key, *private]:
        s3.put_object(Bucket=output, Key=key, Body=b"rows")
    s3.put_object(Bucket=stack.outputs["input_bucket_name"], Key="uploads/raw.csv", Body=b"raw")
    created_orders = not any(t["Name"] == "orders" for t in glue.get_tables(DatabaseName=DATABASE)["TableList"])
    if created_orders:  # test_least_privilege's run of the handler may have created it already
        glue.create_table(DatabaseName=DATABASE, TableInput={"Name": "orders"})
    glue.create_table(DatabaseName=DATABASE, TableInput={"Name": "not_for_analysts"})
    glue.create_database(DatabaseInput={"Name": "other_db"})
    glue.create_table(DatabaseName="other_db", TableInput={"Name": "secrets"})
    workgroup = stack.outputs["athena_workgroup_name"]
    from moto.athena.responses import AthenaResponse

    monkeypatch.setattr(AthenaResponse, "_determine_resource", _athena_resource, raising=False)
    try:
        with moto_checks_resources(monkeypatch), iam_enforced(stack.endpoint):
            a3, aglue, athena = analyst["s3"], analyst["glue"], analyst["athena"]
            # Allowed: the dataset, the table and views' metadata, queries through the workgroup, its results.
            assert a3.get_object(Bucket=output, Key=dataset_key)["Body"].read() == b"rows"
            listed = a3.list_objects_v2(Bucket=output, Prefix="dataset/orders/")
            keys = [o["Key"] for o in listed["Contents"]]  # with the handler's own file when it ran first
            assert dataset_key in keys
            assert all(k.startswith("dataset/orders/") for k in keys)
            for name in ["orders", *(p.stem for p in VIEW_FILES)]:
                assert aglue.get_table(DatabaseName=DATABASE, Name=name)["Table"]["Name"] == name
            assert aglue.get_database(Name=DATABASE)["Database"]["Name"] == DATABASE
            execution = athena.start_query_execution(
                QueryString='SELECT * FROM "orders_analytics"."v_report_orders_by_category" WHERE ingest_date = ?',
                WorkGroup=workgroup,
                ExecutionParameters=["'2026-11-26'"],
            )
            assert athena.get_query_execution(QueryExecutionId=execution["QueryExecutionId"])
            assert athena.list_named_queries(WorkGroup=workgroup)["NamedQueryIds"]
            a3.put_object(Bucket=results, Key="query-results/analyst.csv", Body=b"a,b")
            assert a3.get_object(Bucket=results, Key="query-results/analyst.csv")["Body"].read() == b"a,b"

            # Refused: the raw rows and the pipeline's records, writes, other buckets, other tables.
            for key in private:
                denied(a3.get_object, Bucket=output, Key=key)
            denied(a3.put_object, Bucket=output, Key="dataset/orders/ingest_date=2026-11-26/forged.parquet", Body=b"x")
            denied(a3.delete_object, Bucket=output, Key=dataset_key)
            denied(a3.get_object, Bucket=stack.outputs["input_bucket_name"], Key="uploads/raw.csv")
            denied(a3.list_objects_v2, Bucket=stack.outputs["input_bucket_name"])
            denied(a3.put_object, Bucket=results, Key="elsewhere/x.csv", Body=b"x")
            denied(aglue.get_table, DatabaseName=DATABASE, Name="not_for_analysts")
            denied(aglue.get_table, DatabaseName="other_db", Name="secrets")
            denied(aglue.delete_table, DatabaseName=DATABASE, Name="orders")
            denied(aglue.create_table, DatabaseName=DATABASE, TableInput={"Name": "rogue"})
            denied(athena.create_work_group, Name="rogue")
            denied(athena.delete_work_group, WorkGroup=workgroup)
            denied(athena.create_named_query, Name="x", QueryString="SELECT 1", Database=DATABASE, WorkGroup=workgroup)
            denied(athena.start_query_execution, QueryString="SELECT 1", WorkGroup="primary")
            denied(analyst["iam"].list_users)
    finally:
        # The objects stay: destroy's force_destroy empties the buckets (deleting them here would leave
        # delete markers, which moto's emptying fails on). The tables go, "orders" if this test made it.
        glue.delete_table(DatabaseName="other_db", Name="secrets")
        glue.delete_database(Name="other_db")
        glue.delete_table(DatabaseName=DATABASE, Name="not_for_analysts")
        if created_orders:
            glue.delete_table(DatabaseName=DATABASE, Name="orders")


def test_analyst_policy_scopes_what_moto_does_not_check(stack: Stack) -> None:
    """Athena actions are scoped to the workgroup (and the data catalog) by ARN, listing the output bucket
    to the dataset prefix by an s3:prefix condition: AWS enforces both, moto checks neither."""
    region, account = stack.outputs["region"], stack.outputs["lambda_role_arn"].split(":")[4]
    workgroup_arn = f"arn:aws:athena:{region}:{account}:workgroup/{stack.outputs['athena_workgroup_name']}"
    catalog_arn = f"arn:aws:athena:{region}:{account}:datacatalog/AwsDataCatalog"
    statements = analyst_document(stack)["Statement"]
    for statement in statements:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        assert statement["Effect"] == "Allow"
        if all(a.startswith("athena:") for a in actions):
            if resources == ["*"]:
                assert sorted(actions) == [
                    "athena:ListDataCatalogs",
                    "athena:ListEngineVersions",
                    "athena:ListWorkGroups",
                ]
            else:
                assert resources in ([workgroup_arn], [catalog_arn]), statement
        assert "*" not in resources or all(a.startswith("athena:List") for a in actions), statement
        if "s3:ListBucket" in actions:
            values = statement["Condition"]["StringLike"]["s3:prefix"]
            values = [values] if isinstance(values, str) else values
            assert all(v.startswith(("dataset/orders/", "query-results/")) for v in values), statement
    every_action = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not any(a.endswith("*") for a in every_action)
    assert not {"s3:PutObjectAcl", "s3:DeleteObject", "glue:CreateTable", "glue:UpdateTable"} & every_action
