# Per-hub buckets and one service account per hub, bound to the hub's Kubernetes
# service account by workload identity, with access to exactly its buckets.

resource "google_storage_bucket" "bucket" {
  for_each                    = var.buckets
  name                        = each.value.name
  location                    = var.bucket_location != "" ? var.bucket_location : local.region
  uniform_bucket_level_access = true

  versioning {
    enabled = each.value.versioning
  }

  dynamic "lifecycle_rule" {
    for_each = each.value.lifecycle_days == null ? [] : [each.value.lifecycle_days]
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }
}

resource "google_storage_bucket_iam_member" "public" {
  for_each = { for key, b in var.buckets : key => b if b.public_read }
  bucket   = google_storage_bucket.bucket[each.key].name
  role     = "roles/storage.objectViewer"
  member   = "allUsers"
}

resource "google_service_account" "hub" {
  for_each     = var.hub_identities
  account_id   = each.value.name
  display_name = "hubfleet ${var.hubfleet_cluster}/${each.key}"
}

resource "google_service_account_iam_member" "hub_workload_identity" {
  for_each           = var.hub_identities
  service_account_id = google_service_account.hub[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${each.value.namespace}/${each.value.service_account}]"
}

resource "google_storage_bucket_iam_member" "hub" {
  for_each = merge([
    for hub, identity in var.hub_identities : {
      for key in identity.buckets : "${hub}/${key}" => { hub = hub, bucket = key }
    }
  ]...)
  bucket = google_storage_bucket.bucket[each.value.bucket].name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.hub[each.value.hub].email}"
}
