# Backups of the home file system (terraform.home.backups): an AWS Backup vault, a
# plan with one rule (the schedule in UTC, deleted after retention_days) and the
# selection of the EFS file system, run by a role AWS Backup assumes.
# `hubfleet terraform backups` lists the vault's newest recovery point.

locals {
  home_backups = length(local.efs) == 0 || try(var.home.backups, null) == null ? {} : { home = var.home.backups }
}

resource "aws_backup_vault" "home" {
  for_each = local.home_backups
  name     = each.value.name
}

resource "aws_backup_plan" "home" {
  for_each = local.home_backups
  name     = each.value.name

  rule {
    rule_name         = "home"
    target_vault_name = aws_backup_vault.home[each.key].name
    schedule = (each.value.every_hours >= 24
      ? "cron(0 ${each.value.start_hour} * * ? *)"
    : "cron(0 ${each.value.start_hour % each.value.every_hours}/${each.value.every_hours} * * ? *)")

    lifecycle {
      delete_after = each.value.retention_days
    }
  }
}

data "aws_iam_policy_document" "backup_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["backup.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "backup" {
  for_each           = local.home_backups
  name               = "${each.value.name}-backup"
  assume_role_policy = data.aws_iam_policy_document.backup_assume.json
}

resource "aws_iam_role_policy_attachment" "backup" {
  for_each   = local.home_backups
  role       = aws_iam_role.backup[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
}

resource "aws_backup_selection" "home" {
  for_each     = local.home_backups
  name         = "home"
  plan_id      = aws_backup_plan.home[each.key].id
  iam_role_arn = aws_iam_role.backup[each.key].arn
  resources    = [aws_efs_file_system.home["home"].arn]
}
