# Scaffolded by hubfleet (`hubfleet terraform scaffold aws`): edit freely, keep the inputs.
terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "= 5.100.0"
    }
  }

  # One state per cluster: hubfleet passes the settings of cluster.yaml's
  # terraform.backend with `terraform init -backend-config=...`.
  backend "s3" {}
}

provider "aws" {
  region = var.region

  # Cost per hub: every resource carries the cluster's tag; a hub's own resources
  # (its role, its home access point) also "hubfleet/hub". Activate both as cost
  # allocation tags (docs/terraform.md, Cost per hub).
  default_tags {
    tags = {
      "hubfleet/cluster" = var.hubfleet_cluster
    }
  }
}
