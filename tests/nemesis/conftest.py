"""The nemesis tests reuse the cluster fixtures (probe nodes on both backends)."""

from tests.cluster.conftest import backend_name, make_cluster

__all__ = ["backend_name", "make_cluster"]
