"""Serving HTTP from several processes on one port (OCTIPUS_HTTP_PROCESSES).

One CPython process serves one core at a time (its GIL), so `octipus serve` starts siblings that
accept on the same listening socket (server.py). The main process prepares the database and runs
the workers and channel pollers (group.py); a sibling serves requests only (sibling.py). What
must agree across them goes through shared.py: the hooks' change counter (a change made through
any process is seen by all at their next request) and the workers' wake-up pipe; metrics are
kept in prometheus_client's multiprocess files, so /metrics counts every process.
"""
