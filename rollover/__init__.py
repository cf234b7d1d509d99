"""rollover: term rollover for Blackboard Learn, resumable from a SQLite ledger."""

__version__ = "0.1.0"
