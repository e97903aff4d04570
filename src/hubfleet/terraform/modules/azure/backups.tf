# Backups of the home share (terraform.home.backups): share snapshots taken by Azure
# Backup, a Recovery Services vault with a file share policy (the schedule in UTC,
# kept retention_days), the share's storage account registered with the vault and
# the share protected. `hubfleet terraform backups` lists the newest recovery point.
# (Azure Backup of NFS shares was a preview at the time of writing: check the region.)

locals {
  home_backups = length(local.azure_files) == 0 || try(var.home.backups, null) == null ? {} : { home = var.home.backups }
}

resource "azurerm_recovery_services_vault" "home" {
  for_each            = local.home_backups
  name                = each.value.name
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  sku                 = "Standard"
  soft_delete_enabled = true
  tags                = local.tags
}

resource "azurerm_backup_policy_file_share" "home" {
  for_each            = local.home_backups
  name                = "home"
  resource_group_name = azurerm_resource_group.this.name
  recovery_vault_name = azurerm_recovery_services_vault.home[each.key].name
  timezone            = "UTC"

  backup {
    frequency = each.value.every_hours >= 24 ? "Daily" : "Hourly"
    time      = each.value.every_hours >= 24 ? format("%02d:00", each.value.start_hour) : null

    dynamic "hourly" {
      for_each = each.value.every_hours < 24 ? [each.value] : []
      content {
        interval        = max(4, hourly.value.every_hours)
        start_time      = format("%02d:00", hourly.value.start_hour)
        window_duration = 24 - (24 % max(4, hourly.value.every_hours))
      }
    }
  }

  retention_daily {
    count = each.value.retention_days
  }
}

resource "azurerm_backup_container_storage_account" "home" {
  for_each            = local.home_backups
  resource_group_name = azurerm_resource_group.this.name
  recovery_vault_name = azurerm_recovery_services_vault.home[each.key].name
  storage_account_id  = azurerm_storage_account.home[each.key].id
}

resource "azurerm_backup_protected_file_share" "home" {
  for_each                  = local.home_backups
  resource_group_name       = azurerm_resource_group.this.name
  recovery_vault_name       = azurerm_recovery_services_vault.home[each.key].name
  source_storage_account_id = azurerm_backup_container_storage_account.home[each.key].storage_account_id
  source_file_share_name    = azurerm_storage_share.home[each.key].name
  backup_policy_id          = azurerm_backup_policy_file_share.home[each.key].id
}
