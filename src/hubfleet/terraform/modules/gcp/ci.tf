# The keyless CI identities (workload identity federation for GitHub Actions): the
# deployer (applies) and the planner (read-only, pull requests); and the budget.

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
  for_each = var.github_repository == "" ? {} : {
    deployer = var.deployer.service_account_id
    planner  = var.deployer.plan_service_account_id
  }
  account_id   = each.value
  display_name = "hubfleet ${var.hubfleet_cluster} ${each.key}"
}

resource "google_service_account_iam_member" "ci" {
  for_each           = google_service_account.ci
  service_account_id = each.value.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.ci[0].name}/attribute.repository/${var.github_repository}"
}

resource "google_project_iam_member" "ci" {
  for_each = var.github_repository == "" ? {} : { deployer = "roles/owner", planner = "roles/viewer" }
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.ci[each.key].email}"
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
