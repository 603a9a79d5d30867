variable "database_name" {
  description = "Name of the Glue database. Terraform creates the database; the function creates the table in it (the code owns the schema, see docs/design.md)."
  type        = string
  default     = "orders_analytics"

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.database_name))
    error_message = "database_name must be 1-255 lowercase letters, digits or underscores (the names Athena can query without quoting)."
  }
}

variable "database_description" {
  description = "Description of the Glue database."
  type        = string
  default     = "Orders analytics: typed order lines, partitioned by ingest_date (table created by the Lambda)"
}

variable "table_name" {
  description = "Name of the orders table, injected into the named queries as $${table}."
  type        = string
  default     = "orders"

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.table_name))
    error_message = "table_name must be 1-255 lowercase letters, digits or underscores."
  }
}

variable "workgroup_name" {
  description = "Name of the Athena workgroup."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,128}$", var.workgroup_name))
    error_message = "workgroup_name must be 1-128 letters, digits, periods, underscores or hyphens."
  }
}

variable "results_bucket_name" {
  description = "Bucket where the workgroup writes query results (terraform/modules/s3)."
  type        = string
}

variable "results_prefix" {
  description = "Key prefix of the query results inside the results bucket."
  type        = string
  default     = "query-results/"

  validation {
    condition     = endswith(var.results_prefix, "/") && !startswith(var.results_prefix, "/")
    error_message = "results_prefix must be a key prefix like \"query-results/\" (no leading slash, one trailing slash)."
  }
}

variable "bytes_scanned_cutoff_per_query" {
  description = "Athena cancels a query of this workgroup once it has scanned this many bytes (a cost guard-rail). Default 10 GiB."
  type        = number
  default     = 10737418240

  validation {
    condition     = var.bytes_scanned_cutoff_per_query >= 10485760 && floor(var.bytes_scanned_cutoff_per_query) == var.bytes_scanned_cutoff_per_query
    error_message = "bytes_scanned_cutoff_per_query must be a whole number of bytes, at least 10485760 (10 MB, Athena's minimum)."
  }
}

variable "force_destroy" {
  description = "Delete the workgroup on destroy even if it still holds named queries or query history."
  type        = bool
  default     = false
}

variable "queries_dir" {
  description = "Folder of the .sql files (searched recursively) to save as named queries, one per file, named after its path without .sql. Missing or empty: no named queries."
  type        = string
}

variable "tags" {
  description = "Tags added to the database and the workgroup (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "create_views" {
  description = "Create the views of queries_dir/views in the Glue Data Catalog as Athena views (columns from views/columns.json)."
  type        = bool
  default     = true
}

variable "create_analyst_policy" {
  description = "Create the analysts' managed IAM policy (query through the workgroup, read the dataset and views)."
  type        = bool
  default     = true
}

variable "analyst_policy_name" {
  description = "Name of the analysts' managed policy; null gives \"<workgroup_name>-analyst\"."
  type        = string
  default     = null
}

variable "dataset_bucket_name" {
  description = "Bucket holding the dataset (the output bucket): analysts may read dataset_prefix in it and nothing else."
  type        = string
  default     = null
}

variable "dataset_prefix" {
  description = "Key prefix of the dataset in dataset_bucket_name (the table's location), e.g. \"dataset/orders/\"."
  type        = string
  default     = "dataset/orders/"

  validation {
    condition     = endswith(var.dataset_prefix, "/") && !startswith(var.dataset_prefix, "/")
    error_message = "dataset_prefix must be a key prefix like \"dataset/orders/\"."
  }
}
