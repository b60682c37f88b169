"""Declared actions: searched like FAQs (their example phrasings share the index), stored in SQL."""
