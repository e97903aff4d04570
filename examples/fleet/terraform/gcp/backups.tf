# Backups of the home disk (terraform.home.backups, kind nfs-disk): a snapshot
# schedule attached to the disk, snapshots kept retention_days and labelled with
# the home storage's name, by which `hubfleet terraform backups` finds the newest.
# (Terraform has no scheduled Filestore backup: hubfleet refuses backups: there.)

locals {
  home_backups = length(local.nfs_disk) == 0 || try(var.home.backups, null) == null ? {} : { home = var.home.backups }
}

resource "google_compute_resource_policy" "home" {
  for_each = local.home_backups
  name     = each.value.name
  region   = local.region

  snapshot_schedule_policy {
    schedule {
      dynamic "hourly_schedule" {
        for_each = each.value.every_hours < 24 ? [each.value] : []
        content {
          hours_in_cycle = hourly_schedule.value.every_hours
          start_time     = format("%02d:00", hourly_schedule.value.start_hour)
        }
      }
      dynamic "daily_schedule" {
        for_each = each.value.every_hours >= 24 ? [each.value] : []
        content {
          days_in_cycle = 1
          start_time    = format("%02d:00", daily_schedule.value.start_hour)
        }
      }
    }

    retention_policy {
      max_retention_days    = each.value.retention_days
      on_source_disk_delete = "KEEP_AUTO_SNAPSHOTS"
    }

    snapshot_properties {
      labels = {
        hubfleet-cluster = var.hubfleet_cluster
        hubfleet-home    = var.home.name
      }
    }
  }
}

resource "google_compute_disk_resource_policy_attachment" "home" {
  for_each = local.home_backups
  name     = google_compute_resource_policy.home[each.key].name
  disk     = google_compute_disk.home[each.key].name
  zone     = local.home_zone
}
