# What a hub's identity may use outside the fleet (hub_access): buckets it may read,
# never write (list and get, requester-pays ones too: the reader sends
# x-amz-request-payer and its account pays), and extra managed policies by ARN.

locals {
  hub_external = {
    for hub, identity in var.hub_identities : hub => values(identity.external_buckets)
    if length(identity.external_buckets) > 0
  }
  hub_policies = merge([
    for hub, identity in var.hub_identities : {
      for arn in identity.extra_policies : "${hub}/${arn}" => { hub = hub, arn = arn }
    }
  ]...)
}

resource "aws_iam_role_policy" "hub_external" {
  for_each = local.hub_external
  name     = "external-buckets"
  role     = aws_iam_role.hub[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListExternalBuckets"
        Effect   = "Allow"
        Action   = ["s3:GetBucketLocation", "s3:ListBucket"]
        Resource = sort([for b in each.value : "arn:aws:s3:::${b.name}"])
      },
      {
        Sid      = "ReadExternalObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = sort([for b in each.value : "arn:aws:s3:::${b.name}/*"])
      },
    ]
  })
}

resource "aws_iam_role_policy_attachment" "hub_extra" {
  for_each   = local.hub_policies
  role       = aws_iam_role.hub[each.value.hub].name
  policy_arn = each.value.arn
}
