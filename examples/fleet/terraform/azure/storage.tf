# The cluster's storage account, one container per bucket, and one user-assigned
# identity per hub, federated with the hub's Kubernetes service account, with
# access to exactly its containers.

resource "azurerm_storage_account" "this" {
  name                            = var.storage_account_name
  resource_group_name             = azurerm_resource_group.this.name
  location                        = azurerm_resource_group.this.location
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  allow_nested_items_to_be_public = anytrue([for b in values(var.buckets) : b.public_read])
  tags                            = local.tags

  blob_properties {
    versioning_enabled = anytrue([for b in values(var.buckets) : b.versioning])
  }
}

resource "azurerm_storage_container" "bucket" {
  for_each              = var.buckets
  name                  = each.value.name
  storage_account_id    = azurerm_storage_account.this.id
  container_access_type = each.value.public_read ? "blob" : "private"
}

resource "azurerm_storage_management_policy" "lifecycle" {
  count              = length([for b in values(var.buckets) : b if b.lifecycle_days != null]) > 0 ? 1 : 0
  storage_account_id = azurerm_storage_account.this.id

  dynamic "rule" {
    for_each = { for key, b in var.buckets : key => b if b.lifecycle_days != null }
    content {
      name    = "expire-${rule.key}"
      enabled = true
      filters {
        blob_types   = ["blockBlob"]
        prefix_match = ["${rule.value.name}/"]
      }
      actions {
        base_blob {
          delete_after_days_since_creation_greater_than = rule.value.lifecycle_days
        }
      }
    }
  }
}

resource "azurerm_user_assigned_identity" "hub" {
  for_each            = var.hub_identities
  name                = each.value.name
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  tags                = merge(local.tags, { hubfleet-hub = each.key })
}

resource "azurerm_federated_identity_credential" "hub" {
  for_each            = var.hub_identities
  name                = each.value.federated_name
  resource_group_name = azurerm_resource_group.this.name
  parent_id           = azurerm_user_assigned_identity.hub[each.key].id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = azurerm_kubernetes_cluster.this.oidc_issuer_url
  subject             = "system:serviceaccount:${each.value.namespace}:${each.value.service_account}"
}

resource "azurerm_role_assignment" "hub" {
  for_each = merge([
    for hub, identity in var.hub_identities : {
      for key in identity.buckets : "${hub}/${key}" => { hub = hub, bucket = key }
    }
  ]...)
  scope                = azurerm_storage_container.bucket[each.value.bucket].resource_manager_id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.hub[each.value.hub].principal_id
}
