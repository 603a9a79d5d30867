resource "aws_ecr_repository" "this" {
  name = var.name

  # A deployed tag always means the same image: the Lambda pins a tag, and a
  # re-push under that tag can never change what runs.
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  # AWS-managed KMS key: encryption at rest without a key policy to maintain.
  encryption_configuration {
    encryption_type = "KMS"
  }

  tags = var.tags
}

# Only untagged images expire. Every deployed image has a tag (the function
# pins <repository>:<tag>) and tags are immutable, so a tagged image is never
# superseded in place and never removed by this policy: the image the function
# runs, and every image it can roll back to, stay. Untagged images are left
# by interrupted or replaced pushes and are referenced by nothing.
resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name

  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images ${var.untagged_image_expiry_days} days after their push"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.untagged_image_expiry_days
        }
        action = {
          type = "expire"
        }
      }
    ]
  })
}
