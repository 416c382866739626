"""monitor: a synthetic uptime monitor that keeps a public status page honest."""

__version__ = "0.1.0"
