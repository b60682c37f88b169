"""Outgoing webhooks: subscriptions, which process delivers what, and the signed sending."""
