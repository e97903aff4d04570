# What hub values need (`hubfleet terraform values` reads these).

output "bucket_urls" {
  description = "Bucket short name -> URL."
  value       = { for key, b in google_storage_bucket.bucket : key => "gs://${b.name}" }
}

output "hub_values" {
  description = "Per hub: the annotations of its user service account and its pod labels."
  value = {
    for hub, sa in google_service_account.hub : hub => {
      service_account_annotations = { "iam.gke.io/gcp-service-account" = sa.email }
      pod_labels                  = {}
    }
  }
}

output "cluster_endpoint" {
  value     = google_container_cluster.this.endpoint
  sensitive = true
}

output "ci_workload_identity_provider" {
  value = one(google_iam_workload_identity_pool_provider.github[*].name)
}

# The CI identities: set GCP_WORKLOAD_IDENTITY_PROVIDER (the same for all three) and, as
# GCP_SERVICE_ACCOUNT of each GitHub environment (docs/ci.md), ci_service_accounts.planner
# in terraform-plan-<cluster>, .deployer in terraform-apply-<cluster>, .helm in
# hubfleet-deploy-<cluster>.
output "ci_service_accounts" {
  value = { for key, sa in google_service_account.ci : key => sa.email }
}

# The home storage each hub's PersistentVolume mounts (`hubfleet terraform values`).
output "home_volumes" {
  description = "Per hub: the NFS export of the home storage (hubs are folders of it)."
  value = {
    for hub, directory in try(var.home.directories, {}) : hub => {
      nfs = local.home_export["home"]
    } if length(local.home_export) > 0
  }
}
