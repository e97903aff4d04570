# The users' home directories (terraform.home): a Filestore instance (kind filestore),
# or a persistent disk served by a small NFS server VM (kind nfs-disk), on the
# network the cluster uses. Each hub's directory is a folder of the share, made by
# the kubelet on first use (the pods' subPath); the support release creates each
# hub's PersistentVolume and claim from the output home_volumes.
# Growing size_gb is an update in place; a tier change replaces the storage, which
# `hubfleet terraform plan` flags (holds data).

locals {
  filestore = var.home == null ? {} : var.home.kind == "filestore" ? { home = var.home } : {}
  nfs_disk  = var.home == null ? {} : var.home.kind == "nfs-disk" ? { home = var.home } : {}
  home_zone = length(split("-", var.location)) > 2 ? var.location : "${var.location}-b"
  home_export = merge(
    { for k, f in google_filestore_instance.home : k => { server = f.networks[0].ip_addresses[0], path = "/homes" } },
    { for k, vm in google_compute_instance.nfs : k => { server = vm.network_interface[0].network_ip, path = "/export/homes" } },
  )
}

resource "google_filestore_instance" "home" {
  for_each = local.filestore
  name     = each.value.name
  location = coalesce(each.value.tier, "BASIC_HDD") == "BASIC_HDD" || coalesce(each.value.tier, "BASIC_HDD") == "BASIC_SSD" ? local.home_zone : local.region
  tier     = coalesce(each.value.tier, "BASIC_HDD")

  file_shares {
    name        = "homes"
    capacity_gb = each.value.size_gb
  }

  networks {
    network = var.home_network
    modes   = ["MODE_IPV4"]
  }
}

resource "google_compute_disk" "home" {
  for_each = local.nfs_disk
  name     = each.value.name
  zone     = local.home_zone
  size     = each.value.size_gb
  type     = coalesce(each.value.tier, "pd-balanced")
}

resource "google_compute_instance" "nfs" {
  for_each     = local.nfs_disk
  name         = "${each.value.name}-nfs"
  zone         = local.home_zone
  machine_type = var.nfs_machine_type
  tags         = ["hubfleet-nfs"]

  boot_disk {
    initialize_params {
      image = "debian-cloud/debian-12"
    }
  }

  attached_disk {
    source      = google_compute_disk.home[each.key].id
    device_name = "home"
  }

  network_interface {
    network = var.home_network
  }

  # Formats the disk on first boot only, mounts it, exports it to the network.
  metadata_startup_script = <<-SCRIPT
    set -eu
    apt-get update && apt-get install -y nfs-kernel-server
    dev=/dev/disk/by-id/google-home
    blkid "$dev" || mkfs.ext4 -m 0 "$dev"
    mkdir -p /export/homes
    grep -q /export/homes /etc/fstab || echo "$dev /export/homes ext4 defaults,nofail 0 2" >> /etc/fstab
    mount -a
    chown ${var.home_uid.uid}:${var.home_uid.gid} /export/homes
    echo "/export/homes 10.0.0.0/8(rw,sync,no_subtree_check,no_root_squash)" > /etc/exports
    exportfs -ra
  SCRIPT

  allow_stopping_for_update = true
}

resource "google_compute_firewall" "nfs" {
  for_each      = local.nfs_disk
  name          = "${each.value.name}-nfs"
  network       = var.home_network
  source_ranges = ["10.0.0.0/8"]
  target_tags   = ["hubfleet-nfs"]

  allow {
    protocol = "tcp"
    ports    = ["111", "2049"]
  }
}
