# The users' home directories (terraform.home, kind efs): one EFS file system per
# cluster, a mount target in each of the cluster's subnets, and an access point per
# hub rooted at the hub's directory (created on first use, owned by home_uid). Pods
# mount it through the EFS CSI driver (an EKS add-on with its own IRSA role); the
# support release creates each hub's PersistentVolume and claim from the output
# home_volumes (`hubfleet terraform values`).

locals {
  efs       = var.home == null ? {} : var.home.kind == "efs" ? { home = var.home } : {}
  home_dirs = length(local.efs) == 0 ? {} : var.home.directories
}

resource "aws_security_group" "efs" {
  for_each    = local.efs
  name        = "${each.value.name}-nfs"
  description = "NFS from the cluster's VPC to the home file system"
  vpc_id      = aws_vpc.this.id

  ingress {
    from_port   = 2049
    to_port     = 2049
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
}

resource "aws_efs_file_system" "home" {
  for_each        = local.efs
  creation_token  = each.value.name
  encrypted       = true
  throughput_mode = coalesce(each.value.tier, "elastic")

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }

  tags = { Name = each.value.name }
}

resource "aws_efs_mount_target" "home" {
  count           = length(local.efs) == 0 ? 0 : length(local.zones)
  file_system_id  = aws_efs_file_system.home["home"].id
  subnet_id       = aws_subnet.public[count.index].id
  security_groups = [aws_security_group.efs["home"].id]
}

resource "aws_efs_access_point" "hub" {
  for_each       = local.home_dirs
  file_system_id = aws_efs_file_system.home["home"].id

  posix_user {
    uid = var.home_uid.uid
    gid = var.home_uid.gid
  }

  root_directory {
    path = "/${each.value}"
    creation_info {
      owner_uid   = var.home_uid.uid
      owner_gid   = var.home_uid.gid
      permissions = "0755"
    }
  }

  tags = { "hubfleet/hub" = each.key }
}

# The EFS CSI driver, trusted through the cluster's OIDC issuer.
data "aws_iam_policy_document" "efs_csi_assume" {
  for_each = local.efs
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.cluster.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:kube-system:efs-csi-controller-sa"]
    }
  }
}

resource "aws_iam_role" "efs_csi" {
  for_each           = local.efs
  name               = "${each.value.name}-efs-csi"
  assume_role_policy = data.aws_iam_policy_document.efs_csi_assume[each.key].json
}

resource "aws_iam_role_policy_attachment" "efs_csi" {
  for_each   = local.efs
  role       = aws_iam_role.efs_csi[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"
}

resource "aws_eks_addon" "efs_csi" {
  for_each                 = local.efs
  cluster_name             = aws_eks_cluster.this.name
  addon_name               = "aws-efs-csi-driver"
  service_account_role_arn = aws_iam_role.efs_csi[each.key].arn
  depends_on               = [aws_eks_node_group.pool]
}
