# The keyless CI identities (workload identity federation for GitHub Actions): one
# service account per job kind, each impersonable by exactly one subject, the GitHub
# environment of the jobs that use it (hubfleet's generated workflows; docs/ci.md,
# "Which identity each job gets"); and the budget.
#   planner  (roles/viewer):          terraform plan on pull requests and pushes, drift
#   deployer (roles/owner):           terraform apply of a saved plan, behind required reviewers
#   helm     (roles/container.admin): the helm deploy of the cluster's hubs (RBAC objects
#                                     included, which container.developer cannot create)

locals {
  ci = {
    planner = {
      account_id = var.deployer.plan_service_account_id
      role       = "roles/viewer"
      subject    = "repo:${var.github_repository}:environment:terraform-plan-${var.hubfleet_cluster}"
    }
    deployer = {
      account_id = var.deployer.service_account_id
      role       = "roles/owner"
      subject    = "repo:${var.github_repository}:environment:terraform-apply-${var.hubfleet_cluster}"
    }
    helm = {
      account_id = var.deployer.helm_service_account_id
      role       = "roles/container.admin"
      subject    = "repo:${var.github_repository}:environment:hubfleet-deploy-${var.hubfleet_cluster}"
    }
  }
}

resource "google_iam_workload_identity_pool" "ci" {
  count                     = var.github_repository == "" ? 0 : 1
  workload_identity_pool_id = var.deployer.pool_id
}

resource "google_iam_workload_identity_pool_provider" "github" {
  count                              = var.github_repository == "" ? 0 : 1
  workload_identity_pool_id          = google_iam_workload_identity_pool.ci[0].workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
  }
  attribute_condition = "assertion.repository == \"${var.github_repository}\""

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "ci" {
  for_each     = var.github_repository == "" ? {} : local.ci
  account_id   = each.value.account_id
  display_name = "hubfleet ${var.hubfleet_cluster} ${each.key}"
}

# One principal (a subject), never the repository's principalSet: any job of the
# repository, a pull request's included, could impersonate the owner through that.
resource "google_service_account_iam_member" "ci" {
  for_each           = google_service_account.ci
  service_account_id = each.value.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principal://iam.googleapis.com/${google_iam_workload_identity_pool.ci[0].name}/subject/${local.ci[each.key].subject}"

  lifecycle {
    precondition {
      condition     = length(local.ci[each.key].subject) <= 127
      error_message = "google.subject is at most 127 bytes: use a shorter repository or cluster name."
    }
  }
}

resource "google_project_iam_member" "ci" {
  for_each = google_service_account.ci
  project  = var.project_id
  role     = local.ci[each.key].role
  member   = "serviceAccount:${each.value.email}"
}

resource "google_billing_budget" "monthly" {
  count           = var.budget_amount > 0 && var.billing_account != "" ? 1 : 0
  billing_account = var.billing_account
  display_name    = "${var.cluster_name} monthly"

  amount {
    specified_amount {
      units = tostring(var.budget_amount)
    }
  }

  threshold_rules {
    threshold_percent = 0.8
  }
}
