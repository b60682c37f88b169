"""The FastAPI service: app factory, settings, channel connectors, admin API and the `helpdesk` CLI."""
