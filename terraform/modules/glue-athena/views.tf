# The views of queries/views as Athena views in the Glue Data Catalog, so BI tools connected to
# Athena find them without anyone running the CREATE VIEW files. An Athena view is a Glue table
# of type VIRTUAL_VIEW whose original text is "/* Presto View: <base64 JSON> */", the JSON holding
# the SELECT (originalSql), the catalog, the schema and the output columns with Trino types; the
# storage descriptor repeats the columns with Hive types. This is what Athena itself writes for
# CREATE VIEW. The columns come from views/columns.json (orders-analytics view-columns --write),
# which a test keeps equal to the views' output schema.

locals {
  view_files   = var.create_views ? fileset(var.queries_dir, "views/*.sql") : toset([])
  view_columns = length(local.view_files) > 0 ? jsondecode(file("${var.queries_dir}/views/columns.json")) : {}

  views = {
    for f in local.view_files : trimsuffix(basename(f), ".sql") => {
      # The file's SELECT: what follows CREATE OR REPLACE VIEW "<database>"."<name>" AS
      # (orders_tools.sql.view_definition applies the same pattern).
      sql = trimspace(regex(
        "(?is)CREATE\\s+OR\\s+REPLACE\\s+VIEW\\s+\"[^\"]+\"\\.\"[^\"]+\"\\s+AS\\s+(.*)$",
        templatefile("${var.queries_dir}/${f}", {
          database = aws_glue_catalog_database.this.name
          table    = var.table_name
        })
      )[0])
      description = substr(trimspace(trimprefix(split("\n", file("${var.queries_dir}/${f}"))[0], "--")), 0, 2048)
      columns     = local.view_columns[trimsuffix(basename(f), ".sql")]
    }
  }
}

resource "aws_glue_catalog_table" "view" {
  for_each = local.views

  name          = each.key
  database_name = aws_glue_catalog_database.this.name
  description   = each.value.description
  table_type    = "VIRTUAL_VIEW"
  owner         = "orders-analytics"

  view_original_text = "/* Presto View: ${base64encode(jsonencode({
    originalSql = each.value.sql
    catalog     = "awsdatacatalog"
    schema      = aws_glue_catalog_database.this.name
    columns     = [for c in each.value.columns : { name = c.name, type = c.presto_type }]
  }))} */"
  view_expanded_text = "/* Presto View */"

  parameters = {
    presto_view = "true"
    comment     = "Presto View"
  }

  storage_descriptor {
    dynamic "columns" {
      for_each = each.value.columns
      content {
        name = columns.value.name
        type = columns.value.hive_type
      }
    }
  }
}
