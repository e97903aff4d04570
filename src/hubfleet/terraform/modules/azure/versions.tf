# Scaffolded by hubfleet (`hubfleet terraform scaffold azure`): edit freely, keep the inputs.
terraform {
  required_version = ">= 1.6"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "= 4.27.0"
    }
  }

  # One state per cluster: hubfleet passes terraform.backend's settings to init.
  backend "azurerm" {}
}

provider "azurerm" {
  features {}
  subscription_id = var.subscription_id
}
