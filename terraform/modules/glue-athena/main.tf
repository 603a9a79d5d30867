resource "aws_glue_catalog_database" "this" {
  name        = var.database_name
  description = var.database_description
  tags        = var.tags
}

resource "aws_athena_workgroup" "this" {
  name          = var.workgroup_name
  description   = "Orders analytics: reports and ad-hoc queries over ${var.database_name}"
  state         = "ENABLED"
  force_destroy = var.force_destroy

  configuration {
    # Clients (the Lambda, a BI tool over JDBC/ODBC) cannot pick another
    # output location, turn encryption off or lift the cutoff.
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.bytes_scanned_cutoff_per_query

    # Pinned: the local runner and the trap tests follow Trino as engine version 3 runs it.
    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    # No result ACL: the results bucket enforces bucket-owner ownership (ACLs disabled), and an
    # ACL option would need s3:PutObjectAcl, which neither the Lambda's role nor analysts have.
    result_configuration {
      output_location = "s3://${var.results_bucket_name}/${var.results_prefix}"

      encryption_configuration {
        encryption_option = "SSE_S3"
      }
    }
  }

  tags = var.tags
}

locals {
  # fileset() picks up every .sql file, in subfolders too (reports/, views/,
  # analyses/), so a new query needs no Terraform change.
  query_files = fileset(var.queries_dir, "**/*.sql")
}

resource "aws_athena_named_query" "this" {
  for_each = local.query_files

  # "reports/orders_by_category.sql" is saved as "reports/orders_by_category";
  # its first comment line becomes the description.
  name        = trimsuffix(each.value, ".sql")
  description = substr(trimspace(trimprefix(split("\n", file("${var.queries_dir}/${each.value}"))[0], "--")), 0, 1024)
  workgroup   = aws_athena_workgroup.this.id
  database    = aws_glue_catalog_database.this.name
  # The date-scoped files take the ingestion date as an execution parameter (?): the console
  # prompts for it ('YYYY-MM-DD' with its quotes, or 'ALL'), so a saved query runs as saved.
  query = templatefile("${var.queries_dir}/${each.value}", {
    database = aws_glue_catalog_database.this.name
    table    = var.table_name
  })
}
