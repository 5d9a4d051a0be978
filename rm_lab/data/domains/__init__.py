"""One converter per preference domain, each reading the hub or a local file in the hub schema."""
from rm_lab.data.domains.base import Domain, DomainSplits

__all__ = ["Domain", "DomainSplits"]
