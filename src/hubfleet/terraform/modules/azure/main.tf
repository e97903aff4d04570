# The AKS cluster with OIDC issuer and workload identity, a core pool and user pools.

resource "azurerm_resource_group" "this" {
  name     = var.resource_group_name
  location = var.location
  tags     = { hubfleet-cluster = var.hubfleet_cluster }
}

locals {
  # Cost per hub: Azure has no default tags; every resource that takes tags gets these,
  # a hub's identity also hubfleet-hub (docs/terraform.md, Cost per hub).
  tags       = { hubfleet-cluster = var.hubfleet_cluster }
  core_pool  = lookup(var.node_pools, "core", null)
  user_pools = { for name, pool in var.node_pools : name => pool if name != "core" }
}

resource "azurerm_kubernetes_cluster" "this" {
  name                      = var.cluster_name
  location                  = azurerm_resource_group.this.location
  resource_group_name       = azurerm_resource_group.this.name
  dns_prefix                = var.cluster_name
  kubernetes_version        = var.kubernetes_version
  oidc_issuer_enabled       = true
  workload_identity_enabled = true
  tags                      = local.tags

  default_node_pool {
    name                 = "core"
    vm_size              = local.core_pool == null ? "Standard_E4s_v5" : local.core_pool.machine_type
    auto_scaling_enabled = true
    min_count            = local.core_pool == null ? 1 : max(local.core_pool.min_nodes, 1)
    max_count            = local.core_pool == null ? 3 : local.core_pool.max_nodes
    os_disk_size_gb      = local.core_pool == null ? 100 : local.core_pool.disk_size_gb
    node_labels          = { "hub.jupyter.org/pool-name" = "core" }
  }

  identity {
    type = "SystemAssigned"
  }

  # Kubernetes authorization by Azure RBAC: the CI helm identity's "Azure Kubernetes
  # Service RBAC Cluster Admin" (ci.tf) is what lets it deploy.
  azure_active_directory_role_based_access_control {
    azure_rbac_enabled = true
  }
}

resource "azurerm_kubernetes_cluster_node_pool" "pool" {
  for_each              = local.user_pools
  name                  = substr(replace(each.key, "-", ""), 0, 12)
  kubernetes_cluster_id = azurerm_kubernetes_cluster.this.id
  vm_size               = each.value.machine_type
  auto_scaling_enabled  = true
  min_count             = each.value.min_nodes
  max_count             = each.value.max_nodes
  os_disk_size_gb       = each.value.disk_size_gb
  node_labels           = merge(each.value.labels, { "hub.jupyter.org/pool-name" = each.key })
  node_taints           = each.value.taints
  tags                  = local.tags
}
