# Inputs: every value comes from cluster.yaml through `hubfleet terraform vars`.

variable "account_id" {
  description = "AWS account id (aws.account)."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster name (aws.clusterName)."
  type        = string
}

variable "region" {
  description = "AWS region (aws.region)."
  type        = string
}

variable "deployer" {
  description = "Names of the CI identities, computed by hubfleet."
  type = object({
    role_name      = string
    plan_role_name = string
    helm_role_name = string
  })
}

variable "vpc_cidr" {
  description = "Address range of the cluster's VPC."
  type        = string
  default     = "10.0.0.0/16"
}

variable "hubfleet_cluster" {
  description = "The hubfleet cluster name (config/clusters/<name>)."
  type        = string
}

variable "buckets" {
  description = "Object storage by short name; every name is computed by hubfleet."
  type = map(object({
    name           = string
    lifecycle_days = optional(number)
    public_read    = bool
    versioning     = bool
  }))
  default = {}
}

variable "hub_identities" {
  description = "One cloud identity per hub in hub_access, with the buckets it may use."
  type = map(object({
    name            = string
    federated_name  = string
    namespace       = string
    service_account = string
    buckets         = list(string)
    # Buckets outside the fleet, read-only (external.tf); policies by name or ARN.
    external_buckets = optional(map(object({
      name           = string
      requester_pays = bool
    })), {})
    extra_policies = optional(list(string), [])
  }))
  default = {}
}

variable "node_pools" {
  description = "Node pools; the one named core runs the hub infrastructure."
  type = map(object({
    machine_type = string
    min_nodes    = number
    max_nodes    = number
    disk_size_gb = number
    gpu_type     = optional(string)
    gpu_count    = number
    labels       = map(string)
    taints       = list(string)
  }))
  default = {}
}

variable "github_repository" {
  description = "owner/name of the fleet repository whose CI deploys (empty: no CI identity)."
  type        = string
  default     = ""
}

variable "budget_amount" {
  description = "Monthly budget in the account's currency (0: no budget alert)."
  type        = number
  default     = 0
}

variable "budget_emails" {
  description = "Who gets the budget alerts."
  type        = list(string)
  default     = []
}

variable "kubernetes_version" {
  description = "Kubernetes version of the cluster (null: the cloud's default)."
  type        = string
  default     = null
}

variable "home" {
  description = "The users' home storage, each hub's directory and the backups (null: none)."
  type = object({
    kind         = string
    name         = string
    account_name = optional(string)
    size_gb      = number
    tier         = optional(string)
    directories  = map(string)
    backups = optional(object({
      name           = string
      every_hours    = number
      start_hour     = number
      retention_days = number
    }))
  })
  default = null
}

variable "home_uid" {
  description = "The user id and group id that own the home directories (jovyan: 1000, 100)."
  type        = object({ uid = number, gid = number })
  default     = { uid = 1000, gid = 100 }
}
