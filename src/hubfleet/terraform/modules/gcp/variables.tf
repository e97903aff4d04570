# Inputs: every value comes from cluster.yaml through `hubfleet terraform vars`.

variable "project_id" {
  description = "GCP project id (gcp.project)."
  type        = string
}

variable "cluster_name" {
  description = "GKE cluster name (gcp.cluster)."
  type        = string
}

variable "location" {
  description = "Zone or region of the cluster (gcp.zone or gcp.region)."
  type        = string
}

variable "deployer" {
  description = "Names of the CI identities, computed by hubfleet."
  type = object({
    helm_service_account_id = string
    pool_id                 = string
    plan_service_account_id = string
    service_account_id      = string
  })
}

variable "billing_account" {
  description = "Billing account id for the budget alert (empty: no budget)."
  type        = string
  default     = ""
}

variable "bucket_location" {
  description = "Location of the buckets (default: the cluster's region)."
  type        = string
  default     = ""
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
