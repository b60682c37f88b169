"""What the tests share: local servers for outside platforms, seeded data, fixtures."""
