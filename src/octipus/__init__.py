"""Octipus Hooks: verified webhooks in, durable actions out."""

__version__ = "0.1.0"
