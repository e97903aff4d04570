# The keyless CI identities: GitHub's OIDC tokens trusted by IAM. One role per job
# kind, each trusting exactly one subject: the GitHub environment of the jobs that
# use it (hubfleet's generated workflows; docs/ci.md, "Which identity each job gets").
#   planner  (read-only): terraform plan on pull requests and pushes, drift
#   deployer (admin):     terraform apply of a saved plan, behind required reviewers
#   helm     (cluster):   the helm deploy of the cluster's hubs (EKS access entry only)

locals {
  ci = {
    planner = {
      role_name = var.deployer.plan_role_name
      subject   = "repo:${var.github_repository}:environment:terraform-plan-${var.hubfleet_cluster}"
    }
    deployer = {
      role_name = var.deployer.role_name
      subject   = "repo:${var.github_repository}:environment:terraform-apply-${var.hubfleet_cluster}"
    }
    helm = {
      role_name = var.deployer.helm_role_name
      subject   = "repo:${var.github_repository}:environment:hubfleet-deploy-${var.hubfleet_cluster}"
    }
  }
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.github_repository == "" ? 0 : 1
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_policy_document" "ci_assume" {
  for_each = var.github_repository == "" ? {} : local.ci
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github[0].arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    # An exact subject, never a pattern.
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = [each.value.subject]
    }
  }
}

resource "aws_iam_role" "ci" {
  for_each           = var.github_repository == "" ? {} : local.ci
  name               = each.value.role_name
  assume_role_policy = data.aws_iam_policy_document.ci_assume[each.key].json
}

resource "aws_iam_role_policy_attachment" "ci" {
  for_each = var.github_repository == "" ? {} : {
    planner  = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    deployer = "arn:aws:iam::aws:policy/AdministratorAccess"
  }
  role       = aws_iam_role.ci[each.key].name
  policy_arn = each.value
}

# The helm role: only what `aws eks update-kubeconfig` needs, and cluster admin
# inside this cluster through its EKS access entry.
data "aws_iam_policy_document" "helm" {
  statement {
    actions   = ["eks:DescribeCluster"]
    resources = [aws_eks_cluster.this.arn]
  }
}

resource "aws_iam_role_policy" "helm" {
  count  = var.github_repository == "" ? 0 : 1
  name   = "describe-cluster"
  role   = aws_iam_role.ci["helm"].name
  policy = data.aws_iam_policy_document.helm.json
}

resource "aws_eks_access_entry" "helm" {
  count         = var.github_repository == "" ? 0 : 1
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_iam_role.ci["helm"].arn
}

resource "aws_eks_access_policy_association" "helm" {
  count         = var.github_repository == "" ? 0 : 1
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_iam_role.ci["helm"].arn
  policy_arn    = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }

  depends_on = [aws_eks_access_entry.helm]
}

resource "aws_budgets_budget" "monthly" {
  count        = var.budget_amount > 0 && length(var.budget_emails) > 0 ? 1 : 0
  name         = "${var.cluster_name}-monthly"
  budget_type  = "COST"
  limit_amount = tostring(var.budget_amount)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  notification {
    comparison_operator        = "GREATER_THAN"
    threshold                  = 80
    threshold_type             = "PERCENTAGE"
    notification_type          = "FORECASTED"
    subscriber_email_addresses = var.budget_emails
  }
}
