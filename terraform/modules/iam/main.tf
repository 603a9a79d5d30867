# The Lambda's execution role. One aws_iam_policy_document per concern, each
# attached as its own inline policy, so a reviewer can read (and the lead can
# edit) one concern at a time. Every action is listed; every resource is an
# exact ARN or an ARN under one of the configured prefixes.
#
# tests/infra/test_iam_coverage.py records every AWS call the handler makes,
# maps each to the requests AWS authorises (hidden ones included) and checks
# that this role allows them all and grants nothing else. A grant that no
# handler call uses says who uses it in a comment inside its statement (or on
# its action's line):  # iam-used-by: <who>: <why>

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id

  glue_catalog_arn  = "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog"
  glue_database_arn = "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${var.glue_database_name}"
  glue_table_arn    = "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${var.glue_database_name}/${var.glue_table_name}"

  athena_workgroup_arn = "arn:${local.partition}:athena:${local.region}:${local.account_id}:workgroup/${var.athena_workgroup_name}"

  # Objects under each output prefix. The trailing * is every key below the
  # prefix: the function names objects by date, source id and a UUID.
  output_object_arns = [for p in var.output_prefixes : "${var.output_bucket_arn}/${p}*"]

  policies = merge(
    {
      "input-read"    = data.aws_iam_policy_document.input_read.json
      "output-write"  = data.aws_iam_policy_document.output_write.json
      "glue-catalog"  = data.aws_iam_policy_document.glue_catalog.json
      "logs"          = data.aws_iam_policy_document.logs.json
      "failure-queue" = data.aws_iam_policy_document.failure_queue.json
    },
    var.grant_athena ? { "athena-reports" = data.aws_iam_policy_document.athena_reports.json } : {},
  )
}

data "aws_iam_policy_document" "assume_role" {
  statement {
    sid     = "LambdaAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  description          = "Execution role of the orders analytics Lambda: least privilege, see terraform/modules/iam."
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

# --- Input bucket: read the order CSV that triggered the run -----------------
data "aws_iam_policy_document" "input_read" {
  statement {
    sid    = "ReadInputObjects"
    effect = "Allow"
    actions = [
      "s3:GetObject",        # GetObject and HeadObject of the current version
      "s3:GetObjectVersion", # the function reads the exact version it checked (?versionId=), not whatever is latest by then
    ]
    # Every object under the input prefix: the senders choose the key names.
    resources = ["${var.input_bucket_arn}/${var.input_prefix}*"]
  }

  statement {
    sid       = "ListInputBucket"
    effect    = "Allow"
    actions   = ["s3:ListBucket"] # lets HeadObject answer 404, not 403, for a key deleted before the run
    resources = [var.input_bucket_arn]
    # No s3:prefix condition, even with an input_prefix: the function never lists the
    # bucket, and the 404-or-403 check of a HEAD carries no s3:prefix, so a condition
    # would turn every deleted input into a 403, retried until it lands in the DLQ.
    # Listing shows key names only; reads stay limited to the prefix above.
  }
}

# --- Output bucket: dataset, reports, rejects, runs, errors, state -----------
data "aws_iam_policy_document" "output_write" {
  statement {
    sid    = "ReadWriteOutputPrefixes"
    effect = "Allow"
    actions = [
      "s3:GetObject",            # read state and run manifests back; Athena reads dataset/ with these credentials
      "s3:PutObject",            # write Parquet files, reports, rejects, manifests, error records, state
      "s3:DeleteObject",         # replace a re-delivered file's partition objects; overwrite reports
      "s3:AbortMultipartUpload", # the transfer manager aborts a rejects upload (> 8 MiB, in parts) that failed half-way
    ]
    resources = local.output_object_arns
  }

  statement {
    sid    = "ListOutputBucket"
    effect = "Allow"
    # The pipeline lists a partition's and a source's objects before replacing them.
    actions   = ["s3:ListBucket"]
    resources = [var.output_bucket_arn]
    # No s3:prefix condition, on purpose: S3 answers a GET of a missing key with 404
    # only when the caller may list the bucket, and a GET carries no s3:prefix, so a
    # prefix condition would turn the first run's missing state/sources/<id>.json
    # into a 403 and fail every new file. The bucket holds only this function's
    # output, and object reads/writes stay limited to the prefixes above.
  }
}

# --- Glue Data Catalog: this database and this table only --------------------
data "aws_iam_policy_document" "glue_catalog" {
  statement {
    sid    = "OrdersTableAndPartitions"
    effect = "Allow"
    actions = [
      "glue:GetTable",             # does the table exist yet (awswrangler)
      "glue:CreateTable",          # the code owns the schema and creates the table on first run
      "glue:BatchCreatePartition", # registers the day's partition (awswrangler's add_parquet_partitions)
    ]
    # Nothing updates or deletes partitions: a file's rows are replaced by replacing
    # its Parquet objects, and a partition, once registered, stays.
    # Glue authorises a table call against the catalog, the database and the
    # table, so all three ARNs are needed; no other database or table is.
    resources = [
      local.glue_catalog_arn,
      local.glue_database_arn,
      local.glue_table_arn,
    ]
  }
}

# --- Athena (REPORT_ENGINE=athena only) ---------------------------------------
data "aws_iam_policy_document" "athena_reports" {
  statement {
    sid    = "QueriesInOwnWorkgroup"
    effect = "Allow"
    actions = [
      "athena:StartQueryExecution",
      "athena:GetQueryExecution",
      "athena:GetQueryResults",
      "athena:GetWorkGroup", # awswrangler reads the workgroup's settings before each query
    ]
    resources = [local.athena_workgroup_arn]
  }

  # Athena writes the results with the caller's credentials, in parts when they are
  # large: https://docs.aws.amazon.com/athena/latest/ug/cross-account-permissions.html
  # lists these actions. The workgroup sets no result ACL (the bucket enforces
  # bucket-owner ownership), so s3:PutObjectAcl is not needed.
  statement {
    sid    = "QueryResultObjects"
    effect = "Allow"
    actions = [
      "s3:GetObject", # awswrangler reads the result CSV back
      "s3:PutObject",
      "s3:ListMultipartUploadParts",
      "s3:AbortMultipartUpload",
    ]
    # Every object in the dedicated results bucket: Athena names result
    # files after the query id.
    resources = ["${var.athena_results_bucket_arn}/*"]
  }

  statement {
    sid    = "QueryResultBucket"
    effect = "Allow"
    actions = [
      "s3:ListBucket",
      "s3:GetBucketLocation",
    ]
    resources = [var.athena_results_bucket_arn]
  }

  # Athena plans a query with the caller's credentials: the database, the table and
  # its partitions, on each and its ancestors (glue:GetTable is granted above):
  # https://docs.aws.amazon.com/athena/latest/ug/fine-grained-access-to-glue-resources.html
  statement {
    sid    = "AthenaReadsTheCatalog"
    effect = "Allow"
    actions = [
      "glue:GetDatabase",
      "glue:GetPartitions",
    ]
    resources = [
      local.glue_catalog_arn,
      local.glue_database_arn,
      local.glue_table_arn,
    ]
  }

  statement {
    sid       = "LocateDatasetBucket"
    effect    = "Allow"
    actions   = ["s3:GetBucketLocation"] # Athena looks up the table location's region with the caller's credentials
    resources = [var.output_bucket_arn]
  }
}

# --- CloudWatch Logs: its own log group only ----------------------------------
data "aws_iam_policy_document" "logs" {
  statement {
    # iam-used-by: lambda-service: Lambda writes the function's stdout to CloudWatch Logs with the execution role
    sid    = "WriteOwnLogGroup"
    effect = "Allow"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
    ]
    resources = [
      var.log_group_arn,
      # Every stream in its own group: Lambda names a stream per execution environment.
      "${var.log_group_arn}:log-stream:*",
    ]
  }
}

# --- On-failure destination: its own queue only --------------------------------
data "aws_iam_policy_document" "failure_queue" {
  statement {
    # iam-used-by: lambda-service: the on-failure destination of asynchronous invocations sends with the execution role
    sid       = "SendToOwnFailureQueue"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [var.failure_queue_arn]
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = local.policies

  name   = each.key
  role   = aws_iam_role.this.id
  policy = each.value
}
