"""Tests through real components: databases, FAISS, models, servers, browsers."""
