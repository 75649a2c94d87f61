"""The web pages (SPEC §11 "Web"): an aiohttp server in the daemon's own event loop."""
