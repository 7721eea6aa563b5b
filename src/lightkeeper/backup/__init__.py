"""Protect: backups of PostgreSQL, ChromaDB and files — verified, kept by policy, restorable."""
