# The keyless CI identities: GitHub's OIDC tokens trusted by IAM. The deployer
# (applies, behind a GitHub environment) and the planner (read-only, pull requests).

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.github_repository == "" ? 0 : 1
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_policy_document" "ci_assume" {
  for_each = var.github_repository == "" ? {} : {
    deployer = "repo:${var.github_repository}:environment:*"
    planner  = "repo:${var.github_repository}:*"
  }
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
    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values   = [each.value]
    }
  }
}

resource "aws_iam_role" "deployer" {
  count              = var.github_repository == "" ? 0 : 1
  name               = var.deployer.role_name
  assume_role_policy = data.aws_iam_policy_document.ci_assume["deployer"].json
}

resource "aws_iam_role_policy_attachment" "deployer" {
  count      = var.github_repository == "" ? 0 : 1
  role       = aws_iam_role.deployer[0].name
  policy_arn = "arn:aws:iam::aws:policy/AdministratorAccess"
}

resource "aws_iam_role" "planner" {
  count              = var.github_repository == "" ? 0 : 1
  name               = var.deployer.plan_role_name
  assume_role_policy = data.aws_iam_policy_document.ci_assume["planner"].json
}

resource "aws_iam_role_policy_attachment" "planner" {
  count      = var.github_repository == "" ? 0 : 1
  role       = aws_iam_role.planner[0].name
  policy_arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
}

resource "aws_eks_access_entry" "deployer" {
  count         = var.github_repository == "" ? 0 : 1
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_iam_role.deployer[0].arn
}

resource "aws_eks_access_policy_association" "deployer" {
  count         = var.github_repository == "" ? 0 : 1
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_iam_role.deployer[0].arn
  policy_arn    = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }

  depends_on = [aws_eks_access_entry.deployer]
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
