"""Pure business rules: case states, intake decisions, auto-response policy; no storage imports."""
