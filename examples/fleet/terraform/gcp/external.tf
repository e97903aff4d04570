# What a hub's identity may use outside the fleet (hub_access): buckets it may read
# (roles/storage.objectViewer on each; for a bucket of another organisation its owner
# makes that grant), requester-pays ones billed to this project
# (roles/serviceusage.serviceUsageConsumer), and extra roles on the project by name.

locals {
  hub_external = merge([
    for hub, identity in var.hub_identities : {
      for key, b in identity.external_buckets : "${hub}/${key}" => { hub = hub, bucket = b.name }
    }
  ]...)
  hub_requester_pays = {
    for hub, identity in var.hub_identities : hub => identity
    if anytrue([for b in values(identity.external_buckets) : b.requester_pays])
  }
  hub_roles = merge([
    for hub, identity in var.hub_identities : {
      for role in identity.extra_policies : "${hub}/${role}" => { hub = hub, role = role }
    }
  ]...)
}

resource "google_storage_bucket_iam_member" "hub_external" {
  for_each = local.hub_external
  bucket   = each.value.bucket
  role     = "roles/storage.objectViewer"
  member   = "serviceAccount:${google_service_account.hub[each.value.hub].email}"
}

resource "google_project_iam_member" "hub_requester_pays" {
  for_each = local.hub_requester_pays
  project  = var.project_id
  role     = "roles/serviceusage.serviceUsageConsumer"
  member   = "serviceAccount:${google_service_account.hub[each.key].email}"
}

resource "google_project_iam_member" "hub_extra" {
  for_each = local.hub_roles
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.hub[each.value.hub].email}"
}
