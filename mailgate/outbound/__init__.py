"""Outbound mail: rendering, composing, the outbox queue and the transports."""
