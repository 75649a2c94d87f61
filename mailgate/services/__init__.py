"""Use cases: the only layer that opens units of work."""
