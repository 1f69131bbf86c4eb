"""Generic, domain-free building blocks: ids, filtering, ordering, pagination."""
