"""coach: contact-center coaching from a SQLite file."""

__version__ = "0.1.0"
