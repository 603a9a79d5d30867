# A managed policy for analysts and BI services (QuickSight, Tableau/Power BI over the Athena
# JDBC/ODBC drivers): query through this workgroup, read the dataset and the views, and nothing
# else. Not the rest of the output bucket: rejects/ keeps raw rejected rows, errors/, runs/ and
# state/ the pipeline's records. Athena runs a query with the caller's permissions, so the caller
# needs the Glue metadata and the dataset objects itself, and writes the results it reads back.

locals {
  analyst_policy_name = coalesce(var.analyst_policy_name, "${var.workgroup_name}-analyst")
  glue_prefix         = "arn:${data.aws_partition.current.partition}:glue:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  # The table and every view, by name: no other table of the database, now or later.
  analyst_tables = concat([var.table_name], keys(local.views))
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

data "aws_iam_policy_document" "analyst" {
  statement {
    sid = "QueryThroughTheWorkgroup"
    actions = [
      "athena:StartQueryExecution",
      "athena:StopQueryExecution",
      "athena:GetQueryExecution",
      "athena:GetQueryResults",
      "athena:GetQueryResultsStream",
      "athena:GetQueryRuntimeStatistics",
      "athena:BatchGetQueryExecution",
      "athena:ListQueryExecutions",
      "athena:GetWorkGroup",
      "athena:GetNamedQuery",
      "athena:BatchGetNamedQuery",
      "athena:ListNamedQueries",
    ]
    resources = [aws_athena_workgroup.this.arn]
  }

  statement {
    sid = "BrowseTheCatalogThroughAthena"
    actions = [
      "athena:GetDataCatalog",
      "athena:ListDatabases",
      "athena:GetDatabase",
      "athena:ListTableMetadata",
      "athena:GetTableMetadata",
    ]
    resources = ["arn:${data.aws_partition.current.partition}:athena:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:datacatalog/AwsDataCatalog"]
  }

  statement {
    sid = "ListWorkgroupsAndCatalogs"
    # List actions take no resource ARN (the Service Authorization Reference lists none): "*" is the
    # only value; it reveals workgroup and catalog names and engine versions, no data.
    actions   = ["athena:ListWorkGroups", "athena:ListEngineVersions", "athena:ListDataCatalogs"]
    resources = ["*"]
  }

  statement {
    sid = "ReadTheTableAndViewsMetadata"
    actions = [
      "glue:GetDatabase",
      "glue:GetDatabases",
      "glue:GetTable",
      "glue:GetTables",
      "glue:GetPartition",
      "glue:GetPartitions",
      "glue:BatchGetPartition",
    ]
    resources = concat(
      ["${local.glue_prefix}:catalog", aws_glue_catalog_database.this.arn],
      [for t in local.analyst_tables : "${local.glue_prefix}:table/${aws_glue_catalog_database.this.name}/${t}"],
    )
  }

  statement {
    sid       = "ReadTheDataset"
    actions   = ["s3:GetObject"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.dataset_bucket_name}/${var.dataset_prefix}*"]
  }

  statement {
    sid       = "ListTheDatasetOnly"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.dataset_bucket_name}"]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.dataset_prefix, "${var.dataset_prefix}*"]
    }
  }

  statement {
    sid       = "LocateTheBuckets"
    actions   = ["s3:GetBucketLocation"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.dataset_bucket_name}", "arn:${data.aws_partition.current.partition}:s3:::${var.results_bucket_name}"]
  }

  statement {
    sid = "WriteAndReadTheQueryResults"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.results_bucket_name}/${var.results_prefix}*"]
  }

  statement {
    sid       = "ListTheQueryResults"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.results_bucket_name}"]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.results_prefix, "${var.results_prefix}*"]
    }
  }
}

resource "aws_iam_policy" "analyst" {
  count = var.create_analyst_policy ? 1 : 0

  name        = local.analyst_policy_name
  description = "Query ${var.database_name} through the ${var.workgroup_name} Athena workgroup: the dataset and its views, nothing else."
  policy      = data.aws_iam_policy_document.analyst.json
  tags        = var.tags

  lifecycle {
    precondition {
      condition     = var.dataset_bucket_name != null
      error_message = "dataset_bucket_name is required when create_analyst_policy is true."
    }
  }
}
