"""Outbound network access: the SSRF guard and the HTTP clients every outbound request uses.

Lowest layers first: `addresses` (which addresses a user-configured destination may reach),
`http` (the aiohttp client), `guarded` (that client pinned to checked addresses) and
`connect_guard` (the same rule enforced at every socket connect of a worker process, for
libraries such as Apprise that open their own connections).
"""
