"""Channel connectors: each turns platform requests into `InboundMessage`s and replies back."""
