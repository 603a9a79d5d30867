# Lake Formation mode (lake_formation_grants = true), for accounts where Lake
# Formation governs the Data Catalog: there, IAM permissions alone do not let
# the function create its table, register partitions or have Athena read the
# table, and each call fails with AccessDeniedException ("Insufficient Lake
# Formation permission(s)"). These grants give the function's role what its
# IAM policy already allows, in Lake Formation's terms. Whoever applies them
# must be a Lake Formation data lake administrator (or hold these permissions
# with the grant option). docs/deployment.md, "Lake Formation", has the rest
# (a registered data location, analysts' grants).

# The database: see it, and create the orders table in it (the code owns the
# table's schema and creates it on the first run).
resource "aws_lakeformation_permissions" "function_database" {
  count = var.lake_formation_grants ? 1 : 0

  principal   = module.iam.role_arn
  permissions = ["CREATE_TABLE", "DESCRIBE"]

  database {
    name = module.glue_athena.database_name
  }
}

# Every table of the database, the orders table included once the function has
# created it (a grant on a named table would fail before the first run): read
# it (Athena reports), add and replace its partitions, describe it.
resource "aws_lakeformation_permissions" "function_tables" {
  count = var.lake_formation_grants ? 1 : 0

  principal   = module.iam.role_arn
  permissions = ["ALTER", "DELETE", "DESCRIBE", "INSERT", "SELECT"]

  table {
    database_name = module.glue_athena.database_name
    wildcard      = true
  }
}
