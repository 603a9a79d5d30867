# Three buckets with the same baseline (no public access, bucket-owner-only
# ACLs, default encryption, TLS-only bucket policy, a lifecycle configuration)
# and one job each:
#   input          - order CSVs arrive here; versioned, so a re-upload never loses the previous file
#   output         - dataset/, analytics/, rejects/, runs/, errors/, state/ (see docs/design.md)
#   athena_results - Athena query results; transient, expired by lifecycle

resource "aws_s3_bucket" "input" {
  #checkov:skip=CKV_AWS_18: Server access logs need a separate log bucket owned by the account's central logging; object-level auditing is done with CloudTrail data events there.
  #checkov:skip=CKV_AWS_144: Cross-region replication is a disaster-recovery decision for the account, not this pipeline; the input is versioned and the sender keeps the source files.
  #checkov:skip=CKV2_AWS_62: The input bucket's notification (ObjectCreated *.csv -> Lambda) is aws_s3_bucket_notification.input in the lambda module, next to the function and its invoke permission; checkov does not link resources across modules.
  bucket        = var.input_bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket" "output" {
  #checkov:skip=CKV_AWS_18: Server access logs need a separate log bucket owned by the account's central logging; object-level auditing is done with CloudTrail data events there.
  #checkov:skip=CKV_AWS_144: Everything in the output bucket is derived from the versioned input bucket and can be rebuilt by re-processing it; replication would double storage for no recovery gain.
  #checkov:skip=CKV_AWS_21: Derived data, rebuilt from the versioned input; the daily reports are overwritten on every run, so versions would pile up with nothing to recover.
  #checkov:skip=CKV2_AWS_62: Nothing reacts to new output objects; readers query the Glue table or list a report prefix.
  bucket        = var.output_bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket" "athena_results" {
  #checkov:skip=CKV_AWS_18: Query results are transient (expired after a few days); Athena's own query history records who ran what.
  #checkov:skip=CKV_AWS_144: Transient query results are not worth replicating.
  #checkov:skip=CKV_AWS_21: Query results are written once and expired by lifecycle; versioning would only keep expired results longer.
  #checkov:skip=CKV2_AWS_62: Nothing reacts to query results.
  bucket        = var.athena_results_bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

locals {
  buckets = {
    input          = aws_s3_bucket.input
    output         = aws_s3_bucket.output
    athena_results = aws_s3_bucket.athena_results
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = local.buckets

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# ACLs disabled: the bucket owner owns every object, access is decided by IAM alone.
resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets

  bucket = each.value.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# SSE-KMS with the AWS-managed aws/s3 key: no key policy to maintain and no
# kms:* grants needed in the Lambda's role (the managed key lets any principal
# of the account use it through S3). Bucket keys cut the KMS request count.
resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets

  bucket = each.value.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = local.buckets

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"] # every S3 action: no request may use plain HTTP
    resources = [
      each.value.arn,
      "${each.value.arn}/*", # every object in this bucket
    ]

    principals {
      type        = "*"
      identifiers = ["*"] # everyone, the account itself included
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid     = "DenyOutdatedTLS"
    effect  = "Deny"
    actions = ["s3:*"] # every S3 action
    resources = [
      each.value.arn,
      "${each.value.arn}/*", # every object in this bucket
    ]

    principals {
      type        = "*"
      identifiers = ["*"] # everyone
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  for_each = local.buckets

  bucket = each.value.id
  policy = data.aws_iam_policy_document.tls_only[each.key].json

  # S3 rejects a policy while the public access block is being changed.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_versioning" "input" {
  bucket = aws_s3_bucket.input.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "input" {
  bucket = aws_s3_bucket.input.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.input_noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }

  # Lifecycle rules on a versioned bucket need versioning to exist first.
  depends_on = [aws_s3_bucket_versioning.input]
}

resource "aws_s3_bucket_lifecycle_configuration" "output" {
  bucket = aws_s3_bucket.output.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "athena_results" {
  bucket = aws_s3_bucket.athena_results.id

  rule {
    id     = "expire-query-results"
    status = "Enabled"

    filter {}

    expiration {
      days = var.athena_results_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }
}
