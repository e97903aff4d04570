"""The local provider's runtime: hubs as JupyterHub processes on 127.0.0.1.

The orchestrator builds a `LocalHubSpec` per hub from the fleet and calls
`deploy_hub`; `hubfleet local status|stop` use `hub_status` and `stop_hubs`; the
health check gets the hub's service token from `local_check_token`.
"""

from hubfleet.local.runtime import (
    DEFAULT_BASE_PORT,
    DEFAULT_CHECK_USER,
    LocalDeployError,
    LocalDeployResult,
    LocalHubSpec,
    LocalHubStatus,
    LocalStopResult,
    cluster_state_dir,
    deploy_hub,
    find_proxy_command,
    hub_status,
    local_check_token,
    stop_hubs,
)

__all__ = [
    "DEFAULT_BASE_PORT",
    "DEFAULT_CHECK_USER",
    "LocalDeployError",
    "LocalDeployResult",
    "LocalHubSpec",
    "LocalHubStatus",
    "LocalStopResult",
    "cluster_state_dir",
    "deploy_hub",
    "find_proxy_command",
    "hub_status",
    "local_check_token",
    "stop_hubs",
]
