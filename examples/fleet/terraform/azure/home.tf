# The users' home directories (terraform.home, kind azure-files): an NFS Azure Files
# share in a premium FileStorage account of its own (NFS needs it, and secure transfer
# off: NFS traffic stays inside the virtual network, allowed by home_subnet_ids).
# Each hub's directory is a folder of the share, made by the kubelet on first use
# (the pods' subPath); the support release creates each hub's PersistentVolume and
# claim from the output home_volumes. Growing size_gb (the quota) is an update.

locals {
  azure_files = var.home == null ? {} : var.home.kind == "azure-files" ? { home = var.home } : {}
}

resource "azurerm_storage_account" "home" {
  for_each                   = local.azure_files
  name                       = each.value.account_name
  resource_group_name        = azurerm_resource_group.this.name
  location                   = azurerm_resource_group.this.location
  account_kind               = "FileStorage"
  account_tier               = coalesce(each.value.tier, "Premium")
  account_replication_type   = "LRS"
  https_traffic_only_enabled = false
  tags                       = local.tags

  network_rules {
    default_action             = "Deny"
    virtual_network_subnet_ids = var.home_subnet_ids
  }
}

resource "azurerm_storage_share" "home" {
  for_each           = local.azure_files
  name               = each.value.name
  storage_account_id = azurerm_storage_account.home[each.key].id
  quota              = each.value.size_gb
  enabled_protocol   = "NFS"
}
