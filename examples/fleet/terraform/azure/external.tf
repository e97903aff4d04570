# What a hub's identity may use beyond its containers (hub_access.extra_policies):
# each role definition name, assigned on the cluster's resource group. (Buckets
# outside the fleet are a GCP and AWS feature: hubfleet refuses them here.)

locals {
  hub_roles = merge([
    for hub, identity in var.hub_identities : {
      for role in identity.extra_policies : "${hub}/${role}" => { hub = hub, role = role }
    }
  ]...)
}

resource "azurerm_role_assignment" "hub_extra" {
  for_each             = local.hub_roles
  scope                = azurerm_resource_group.this.id
  role_definition_name = each.value.role
  principal_id         = azurerm_user_assigned_identity.hub[each.value.hub].principal_id
}
