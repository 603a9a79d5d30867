terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }

  # Partial configuration: bucket, key and region are given at init time,
  #   terraform init -backend-config="bucket=..." -backend-config="key=....tfstate" -backend-config="region=..."
  # (see docs/deployment.md), so no account-specific value is committed.
  backend "s3" {}
}
