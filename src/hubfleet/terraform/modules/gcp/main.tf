# The GKE cluster with workload identity, a core pool and user pools.

locals {
  region = length(split("-", var.location)) > 2 ? join("-", slice(split("-", var.location), 0, 2)) : var.location
}

resource "google_container_cluster" "this" {
  name                     = var.cluster_name
  location                 = var.location
  min_master_version       = var.kubernetes_version
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = true

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  release_channel {
    channel = "REGULAR"
  }
}

resource "google_container_node_pool" "pool" {
  for_each = var.node_pools
  name     = each.key
  cluster  = google_container_cluster.this.id
  location = var.location

  autoscaling {
    min_node_count = each.value.min_nodes
    max_node_count = each.value.max_nodes
  }

  node_config {
    machine_type = each.value.machine_type
    disk_size_gb = each.value.disk_size_gb
    labels       = merge(each.value.labels, { "hub.jupyter.org/pool-name" = each.key })
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    dynamic "guest_accelerator" {
      for_each = each.value.gpu_count > 0 ? [each.value] : []
      content {
        type  = guest_accelerator.value.gpu_type
        count = guest_accelerator.value.gpu_count
      }
    }

    dynamic "taint" {
      for_each = each.value.taints
      content {
        key    = split("=", taint.value)[0]
        value  = split(":", split("=", taint.value)[1])[0]
        effect = upper(replace(split(":", taint.value)[1], "/([a-z])([A-Z])/", "$1_$2"))
      }
    }
  }
}
