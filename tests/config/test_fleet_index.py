"""`Fleet.cluster`, `Fleet.find_cluster` and `Cluster.hub` are one lookup each (a plan
asks them for every job: a walk over the clusters made a 20,000-hub plan quadratic),
and answer exactly as the walk did: the first of a name, the same errors, and never an
index left from another fleet."""

from __future__ import annotations

import dataclasses

import pytest
from tests.conftest import TEST_FLEET

from hubfleet.base.errors import ConfigError
from hubfleet.config.fleet import Fleet
from hubfleet.config.load import load_fleet


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return load_fleet(TEST_FLEET).fleet_or_raise()


def test_every_cluster_and_hub_is_found_by_name(fleet: Fleet) -> None:
    assert len(fleet.clusters) > 1
    for cluster in fleet.clusters:
        assert fleet.cluster(cluster.name) is cluster
        assert fleet.find_cluster(cluster.name) is cluster
        for hub in cluster.hubs:
            assert cluster.hub(hub.name) is hub


def test_an_unknown_name_is_the_same_error_as_before(fleet: Fleet) -> None:
    name = fleet.clusters[0].name
    assert fleet.find_cluster(name + "x") is None
    with pytest.raises(ConfigError) as caught:
        fleet.cluster(name + "x")
    assert f"no cluster named {name + 'x'!r}" in str(caught.value)
    assert name in (caught.value.problems[0].hint or "")  # did you mean
    cluster = fleet.clusters[0]
    hub = cluster.hubs[0].name
    with pytest.raises(ConfigError) as caught:
        cluster.hub(hub + "x")
    assert f"has no hub {hub + 'x'!r}" in str(caught.value)
    assert caught.value.problems[0].path == cluster.file


def test_the_first_of_a_repeated_name_wins_as_in_a_walk(fleet: Fleet) -> None:
    first, second = fleet.clusters[0], fleet.clusters[1]
    twin = dataclasses.replace(second, name=first.name)
    doubled = dataclasses.replace(fleet, clusters=(first, twin))
    assert doubled.cluster(first.name) is first
    hub = first.hubs[0]
    other = dataclasses.replace(first.hubs[-1], name=hub.name)
    repeated = dataclasses.replace(first, hubs=(hub, other))
    assert repeated.hub(hub.name) is hub


def test_a_fleet_made_from_another_has_its_own_index(fleet: Fleet) -> None:
    """The index is the instance's: a fleet replaced without a cluster (as isolation
    does with a broken one) does not find it through the original's index."""
    gone = fleet.clusters[0]
    assert fleet.cluster(gone.name) is gone  # the original's index is built
    smaller = dataclasses.replace(fleet, clusters=fleet.clusters[1:])
    assert smaller.find_cluster(gone.name) is None
    with pytest.raises(ConfigError):
        smaller.cluster(gone.name)
    assert fleet.find_cluster(gone.name) is gone
