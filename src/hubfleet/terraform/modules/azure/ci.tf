# The keyless CI identities: user-assigned identities federated with GitHub's OIDC
# tokens, one per job kind, each trusting exactly one subject: the GitHub environment
# of the jobs that use it (hubfleet's generated workflows; docs/ci.md, "Which identity
# each job gets").
#   planner  (Reader on the resource group):  terraform plan on pull requests and pushes, drift
#   deployer (Owner of the resource group):   terraform apply of a saved plan, behind reviewers
#   helm     (the cluster only):              the helm deploy of the cluster's hubs: its user
#                                             credentials and Azure RBAC cluster admin

locals {
  ci = {
    planner = {
      name      = var.deployer.plan_identity_name
      federated = var.deployer.plan_federated_name
      subject   = "repo:${var.github_repository}:environment:terraform-plan-${var.hubfleet_cluster}"
    }
    deployer = {
      name      = var.deployer.identity_name
      federated = var.deployer.federated_name
      subject   = "repo:${var.github_repository}:environment:terraform-apply-${var.hubfleet_cluster}"
    }
    helm = {
      name      = var.deployer.helm_identity_name
      federated = var.deployer.helm_federated_name
      subject   = "repo:${var.github_repository}:environment:hubfleet-deploy-${var.hubfleet_cluster}"
    }
  }
  # Role assignments: identity, role and scope.
  ci_roles = var.github_repository == "" ? {} : {
    planner  = { identity = "planner", role = "Reader", scope = azurerm_resource_group.this.id }
    deployer = { identity = "deployer", role = "Owner", scope = azurerm_resource_group.this.id }
    helm_user = {
      identity = "helm"
      role     = "Azure Kubernetes Service Cluster User Role"
      scope    = azurerm_kubernetes_cluster.this.id
    }
    helm_admin = {
      identity = "helm"
      role     = "Azure Kubernetes Service RBAC Cluster Admin"
      scope    = azurerm_kubernetes_cluster.this.id
    }
  }
}

resource "azurerm_user_assigned_identity" "ci" {
  for_each            = var.github_repository == "" ? {} : local.ci
  name                = each.value.name
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  tags                = local.tags
}

resource "azurerm_federated_identity_credential" "ci" {
  for_each            = azurerm_user_assigned_identity.ci
  name                = local.ci[each.key].federated
  resource_group_name = azurerm_resource_group.this.name
  parent_id           = each.value.id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = "https://token.actions.githubusercontent.com"
  subject             = local.ci[each.key].subject
}

resource "azurerm_role_assignment" "ci" {
  for_each             = local.ci_roles
  scope                = each.value.scope
  role_definition_name = each.value.role
  principal_id         = azurerm_user_assigned_identity.ci[each.value.identity].principal_id
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
