"""Grudges are pure: checked for every topology over many seeds and cluster sizes."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import UsageError
from harness.nemesis import (
    bridge,
    check_grudge,
    complete_grudge,
    grudge_for,
    is_symmetric,
    isolate,
    majorities_ring,
    majority,
    one,
    one_way,
    to_data,
)
from harness.nemesis._grudge import components_seen

sizes = st.integers(min_value=3, max_value=9)
seeds = st.integers(min_value=0, max_value=2**32)


def names(n: int) -> list[str]:
    return [f"n{i}" for i in range(1, n + 1)]


def test_complete_grudge_is_symmetric_and_exact() -> None:
    g = complete_grudge([["n1"], ["n2", "n3"]])
    assert g == {"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}}
    assert is_symmetric(g)
    with pytest.raises(UsageError, match="more than one component"):
        complete_grudge([["n1", "n2"], ["n2"]])


@given(sizes, seeds)
def test_one_isolates_exactly_one_node(n: int, seed: int) -> None:
    g = one(names(n), random.Random(seed))
    alone = [x for x, s in g.items() if len(s) == n - 1]
    assert len(alone) == 1 and is_symmetric(g)
    assert all(s == {alone[0]} for x, s in g.items() if x != alone[0])


@given(sizes, seeds)
def test_majority_splits_into_minority_and_majority(n: int, seed: int) -> None:
    g = majority(names(n), random.Random(seed))
    seen = components_seen(g, names(n))
    comps = {frozenset(v) for v in seen.values()}
    assert len(comps) == 2 and is_symmetric(g)
    small, big = sorted(comps, key=len)
    assert len(small) == n // 2 and len(big) == n - n // 2 and not small & big


@given(sizes, seeds)
def test_majorities_ring_every_node_sees_a_distinct_majority(n: int, seed: int) -> None:
    g = majorities_ring(names(n), random.Random(seed))
    seen = components_seen(g, names(n))
    assert all(len(v) == n // 2 + 1 and x in v for x, v in seen.items())
    assert len(set(seen.values())) == n  # no two nodes see the same majority
    if (n // 2) % 2 == 0:
        assert is_symmetric(g)


def test_majorities_ring_for_five_is_the_neighbour_ring() -> None:
    g = majorities_ring(names(5), random.Random(3))
    assert is_symmetric(g) and all(len(s) == 2 for s in g.values())


@given(sizes, seeds)
def test_bridge_has_one_node_hearing_both_sides(n: int, seed: int) -> None:
    g = bridge(names(n), random.Random(seed))
    seen = components_seen(g, names(n))
    hub = [x for x, v in seen.items() if len(v) == n]
    assert len(hub) == 1 and is_symmetric(g)
    others = {frozenset(v) - {hub[0]} for x, v in seen.items() if x != hub[0]}
    assert len(others) == 2
    a, b = others
    assert not a & b and len(a | b) == n - 1


@given(sizes, seeds)
def test_one_way_is_asymmetric_minority_deaf(n: int, seed: int) -> None:
    g = one_way(names(n), random.Random(seed))
    assert not is_symmetric(g)
    deaf = set(g)
    assert len(deaf) == n // 2
    assert all(s == set(names(n)) - deaf for s in g.values())


def test_isolate_a_named_leader_and_reject_strangers() -> None:
    assert isolate(names(3), "n2") == {"n2": {"n1", "n3"}, "n1": {"n2"}, "n3": {"n2"}}
    assert grudge_for("leader", names(3), random.Random(0), leader="n3")["n3"] == {"n1", "n2"}
    with pytest.raises(UsageError, match="not one of"):
        isolate(names(3), "n9")
    with pytest.raises(UsageError, match="needs the current leader"):
        grudge_for("leader", names(3), random.Random(0))
    with pytest.raises(UsageError, match="unknown partition topology 'star'"):
        grudge_for("star", names(3), random.Random(0))


def test_topologies_need_enough_nodes() -> None:
    with pytest.raises(UsageError, match="at least 3 nodes, got 2"):
        bridge(names(2), random.Random(0))
    with pytest.raises(UsageError, match="duplicate"):
        one(["n1", "n1"], random.Random(0))


def test_same_seed_same_grudge() -> None:
    for topo in ("one", "majority", "majorities-ring", "bridge", "one-way"):
        a = grudge_for(topo, names(5), random.Random(42))
        b = grudge_for(topo, names(5), random.Random(42))
        assert a == b


def test_check_grudge_and_data_form() -> None:
    assert check_grudge({"n1": ["n2", "n1"], "n3": []}, names(3)) == {"n1": {"n2"}}
    with pytest.raises(UsageError, match=r"unknown nodes \['n4'\]"):
        check_grudge({"n1": ["n4"]}, names(3))
    assert to_data({"n2": {"n3", "n1"}, "n1": set()}) == {"n2": ["n1", "n3"]}
