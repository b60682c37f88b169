"""What every layer shares: the database, the table of server processes, shared errors, the device.

Imports nothing from bot/, dialogue/, retrieval/ or training/ (tests/unit/test_layout.py checks it).
"""
