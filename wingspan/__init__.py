"""wingspan: a wire-compatible replacement for Pterodactyl Wings (shared core)."""

__version__ = "1.11.11"
