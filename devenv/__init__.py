"""devenv: a dev-mode environment manager for RAGFlow's docker compose stack."""

__version__ = "0.1.0"
