# The keyless CI identities: user-assigned identities federated with GitHub's OIDC
# tokens. The deployer (applies, in a GitHub environment) and the planner (read-only).

locals {
  ci = var.github_repository == "" ? {} : {
    deployer = { name = var.deployer.identity_name, federated = var.deployer.federated_name, role = "Owner", subject = "repo:${var.github_repository}:environment:terraform" }
    planner  = { name = var.deployer.plan_identity_name, federated = var.deployer.plan_federated_name, role = "Reader", subject = "repo:${var.github_repository}:pull_request" }
  }
}

resource "azurerm_user_assigned_identity" "ci" {
  for_each            = local.ci
  name                = each.value.name
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
}

resource "azurerm_federated_identity_credential" "ci" {
  for_each            = local.ci
  name                = each.value.federated
  resource_group_name = azurerm_resource_group.this.name
  parent_id           = azurerm_user_assigned_identity.ci[each.key].id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = "https://token.actions.githubusercontent.com"
  subject             = each.value.subject
}

resource "azurerm_role_assignment" "ci" {
  for_each             = local.ci
  scope                = azurerm_resource_group.this.id
  role_definition_name = each.value.role
  principal_id         = azurerm_user_assigned_identity.ci[each.key].principal_id
}

resource "azurerm_consumption_budget_resource_group" "monthly" {
  count             = var.budget_amount > 0 && length(var.budget_emails) > 0 ? 1 : 0
  name              = "${var.cluster_name}-monthly"
  resource_group_id = azurerm_resource_group.this.id
  amount            = var.budget_amount
  time_grain        = "Monthly"

  time_period {
    start_date = "2025-01-01T00:00:00Z"
  }

  notification {
    operator       = "GreaterThan"
    threshold      = 80
    contact_emails = var.budget_emails
  }
}
