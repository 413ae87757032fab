"""Hostile servers: scripted raw-socket scenarios against our transports and clients."""
