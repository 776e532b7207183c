"""The query layer: the one place a value function is called, its cache and its executors."""

from interspect.queries.cache import QueryCache, identity_hash

__all__ = ["QueryCache", "identity_hash"]
