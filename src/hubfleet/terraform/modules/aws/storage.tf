# Per-hub buckets and one IAM role per hub (IRSA) with access to exactly its buckets.

resource "aws_s3_bucket" "bucket" {
  for_each = var.buckets
  bucket   = each.value.name
}

resource "aws_s3_bucket_lifecycle_configuration" "bucket" {
  for_each = { for key, b in var.buckets : key => b if b.lifecycle_days != null }
  bucket   = aws_s3_bucket.bucket[each.key].id

  rule {
    id     = "expire"
    status = "Enabled"
    filter {}
    expiration {
      days = each.value.lifecycle_days
    }
  }
}

resource "aws_s3_bucket_versioning" "bucket" {
  for_each = { for key, b in var.buckets : key => b if b.versioning }
  bucket   = aws_s3_bucket.bucket[each.key].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_public_access_block" "public" {
  for_each                = { for key, b in var.buckets : key => b if b.public_read }
  bucket                  = aws_s3_bucket.bucket[each.key].id
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = false
  restrict_public_buckets = false
}

resource "aws_s3_bucket_policy" "public" {
  for_each = { for key, b in var.buckets : key => b if b.public_read }
  bucket   = aws_s3_bucket.bucket[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = "*"
      Action    = ["s3:GetObject"]
      Resource  = ["${aws_s3_bucket.bucket[each.key].arn}/*"]
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.public]
}

data "aws_iam_policy_document" "hub_assume" {
  for_each = var.hub_identities
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.cluster.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${each.value.namespace}:${each.value.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "hub" {
  for_each           = var.hub_identities
  name               = each.value.name
  assume_role_policy = data.aws_iam_policy_document.hub_assume[each.key].json
  tags               = { "hubfleet/hub" = each.key }
}

resource "aws_iam_role_policy" "hub_buckets" {
  for_each = { for hub, identity in var.hub_identities : hub => identity if length(identity.buckets) > 0 }
  name     = "buckets"
  role     = aws_iam_role.hub[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect = "Allow"
      Action = ["s3:*"]
      Resource = flatten([
        for key in each.value.buckets : [
          aws_s3_bucket.bucket[key].arn,
          "${aws_s3_bucket.bucket[key].arn}/*",
        ]
      ])
    }]
  })
}
