# What hub values need (`hubfleet terraform values` reads these).

output "bucket_urls" {
  description = "Bucket short name -> URL."
  value       = { for key, b in aws_s3_bucket.bucket : key => "s3://${b.bucket}" }
}

output "hub_values" {
  description = "Per hub: the annotations of its user service account and its pod labels."
  value = {
    for hub, role in aws_iam_role.hub : hub => {
      service_account_annotations = { "eks.amazonaws.com/role-arn" = role.arn }
      pod_labels                  = {}
    }
  }
}

output "cluster_endpoint" {
  value = aws_eks_cluster.this.endpoint
}

output "deployer_role_arn" {
  value = one(aws_iam_role.deployer[*].arn)
}

output "planner_role_arn" {
  value = one(aws_iam_role.planner[*].arn)
}
