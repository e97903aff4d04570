# What hub values need (`hubfleet terraform values` reads these).

output "bucket_urls" {
  description = "Bucket short name -> URL."
  value = {
    for key, c in azurerm_storage_container.bucket :
    key => "https://${azurerm_storage_account.this.name}.blob.core.windows.net/${c.name}"
  }
}

output "hub_values" {
  description = "Per hub: the annotations of its user service account and its pod labels."
  value = {
    for hub, identity in azurerm_user_assigned_identity.hub : hub => {
      service_account_annotations = { "azure.workload.identity/client-id" = identity.client_id }
      pod_labels                  = { "azure.workload.identity/use" = "true" }
    }
  }
}

# The CI identities: set as AZURE_CLIENT_ID of each GitHub environment (docs/ci.md),
# ci_client_ids.planner in terraform-plan-<cluster>, .deployer in
# terraform-apply-<cluster>, .helm in hubfleet-deploy-<cluster>.
output "ci_client_ids" {
  value = { for key, identity in azurerm_user_assigned_identity.ci : key => identity.client_id }
}

output "tenant_id" {
  value = one(values(azurerm_user_assigned_identity.hub)[*].tenant_id)
}

# The home storage each hub's PersistentVolume mounts (`hubfleet terraform values`).
output "home_volumes" {
  description = "Per hub: the NFS export of the home share (hubs are folders of it)."
  value = {
    for hub, directory in try(var.home.directories, {}) : hub => {
      nfs = {
        server = "${azurerm_storage_account.home["home"].name}.file.core.windows.net"
        path   = "/${azurerm_storage_account.home["home"].name}/${azurerm_storage_share.home["home"].name}"
      }
    } if length(local.azure_files) > 0
  }
}
