"""Errors raised in more than one layer; the edges (bot/errors.py, the CLI) translate them for people."""


class ModelUnavailable(Exception):
    """A configured model (embedder or LM) could not be found or loaded; `str(error)` says what to set."""


class DeviceUnavailable(ModelUnavailable):
    """HELPDESK_DEVICE (or a training `--device`) names a device PyTorch does not see."""


class LMUnavailable(ModelUnavailable):
    """The LM could not write a reply now (its server is down, timed out or refused); the customer gets the
    fallback and the turn is kept, and `str(error)` says what failed."""
