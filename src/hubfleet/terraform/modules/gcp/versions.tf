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
}
