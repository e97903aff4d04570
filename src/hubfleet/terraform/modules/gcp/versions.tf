# Scaffolded by hubfleet (`hubfleet terraform scaffold gcp`): edit freely, keep the inputs.
terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "= 6.30.0"
    }
  }

  # One state per cluster: hubfleet passes terraform.backend's settings to init.
  backend "gcs" {}
}

provider "google" {
  project = var.project_id

  # Cost per hub: every resource that takes labels carries the cluster's; the billing
  # export groups by it, and GKE cost allocation by the user pods' hubfleet/hub label.
  default_labels = {
    hubfleet-cluster = var.hubfleet_cluster
  }
}
