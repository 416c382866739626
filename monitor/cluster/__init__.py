"""Cluster mode: several daemons sharing PostgreSQL, exactly one of them (the leader) publishing.

Without `[cluster]` nothing here is imported, and asyncpg (the driver) is never loaded.

    every node:  probes -> its own engine (check states) -> its own SQLite, as single-node
                 node.py pushes its check states and a heartbeat to PostgreSQL (shared.py)
    the leader:  lease.py holds the fenced lease; leader.py judges components from the freshest
                 check states of live nodes (votes.py), writes transitions and the outbox in
                 fenced transactions, and runs the usual publishing over ledger.py

See docs/cluster.md.
"""
