"""Pull-request labels with their conventional meanings."""

from __future__ import annotations

from dataclasses import dataclass

from hubfleet.base.errors import HubfleetError
from hubfleet.base.jsonio import InputError, parse_json

SKIP_DEPLOY = "deployer:skip-deploy"
SKIP_DEPLOY_HUBS = "deployer:skip-deploy-hubs"
DEPLOY_HUBS = "deployer:deploy-hubs"
DEPLOY_SUPPORT = "deployer:deploy-support"
KNOWN = (SKIP_DEPLOY, SKIP_DEPLOY_HUBS, DEPLOY_HUBS, DEPLOY_SUPPORT)


@dataclass(frozen=True)
class Labels:
    names: tuple[str, ...] = ()

    @property
    def skip_deploy(self) -> bool:
        """Nothing is deployed."""
        return SKIP_DEPLOY in self.names

    @property
    def skip_hubs(self) -> bool:
        """No hub is deployed (support releases still are)."""
        return SKIP_DEPLOY_HUBS in self.names

    @property
    def deploy_hubs(self) -> bool:
        """Every hub is deployed."""
        return DEPLOY_HUBS in self.names

    @property
    def deploy_support(self) -> bool:
        """Every support release is deployed."""
        return DEPLOY_SUPPORT in self.names


def parse_labels(text: str | None) -> Labels:
    """`--labels`: a JSON list of label names, or of GitHub label objects (`{"name": ...}`),
    as `toJSON(github.event.pull_request.labels)` gives. Other labels are ignored."""
    if text is None or not text.strip():
        return Labels()
    hint = (
        "a JSON list, e.g. '[\"deployer:deploy-hubs\"]' or toJSON(github.event.pull_request.labels)"
    )
    try:
        data = parse_json(text, "--labels", "label list").data
    except InputError as exc:
        message = exc.message.replace("the label list is ", "")  # "not JSON: ..."
        raise HubfleetError(f"--labels: {message}", hint=hint) from None
    if not isinstance(data, list):
        raise HubfleetError("--labels: must be a JSON list", hint=hint)
    names: list[str] = []
    for item in data:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str):
            raise HubfleetError(f"--labels: {item!r} is not a label name", hint=hint)
        names.append(name.strip())
    return Labels(tuple(sorted(set(names))))
