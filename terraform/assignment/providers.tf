provider "aws" {
  region  = var.region
  profile = var.aws_profile

  # Every resource that supports tags gets these.
  default_tags {
    tags = {
      project     = var.project
      environment = var.environment
      owner       = var.candidate_name
    }
  }
}
