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

# The CI identities: set each as the variable AWS_ROLE_ARN of its GitHub environment
# (docs/ci.md): planner_role_arn in terraform-plan-<cluster>, deployer_role_arn in
# terraform-apply-<cluster>, helm_role_arn in hubfleet-deploy-<cluster>.
output "planner_role_arn" {
  value = try(aws_iam_role.ci["planner"].arn, null)
}

output "deployer_role_arn" {
  value = try(aws_iam_role.ci["deployer"].arn, null)
}

output "helm_role_arn" {
  value = try(aws_iam_role.ci["helm"].arn, null)
}

# The home storage each hub's PersistentVolume mounts (`hubfleet terraform values`
# writes the support release's hubHomeVolumes from it): the EFS access point of the hub.
output "home_volumes" {
  description = "Per hub: the CSI volume of its home directory."
  value = {
    for hub, ap in aws_efs_access_point.hub : hub => {
      csi = {
        driver       = "efs.csi.aws.com"
        volumeHandle = "${ap.file_system_id}::${ap.id}"
      }
    }
  }
}

output "home_storage" {
  description = "The home file system and its backup vault (`hubfleet terraform backups`)."
  value = {
    file_system_id = one([for fs in aws_efs_file_system.home : fs.id])
    backup_vault   = one([for v in aws_backup_vault.home : v.name])
  }
}
