"""Connections to the stack's services."""
