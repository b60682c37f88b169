"""Errors raised in more than one layer; the edges (bot/errors.py, the CLI) translate them for people."""


class ModelUnavailable(Exception):
    """A configured model (embedder or LM) could not be found or loaded; `str(error)` says what to set."""


class DeviceUnavailable(ModelUnavailable):
    """HELPDESK_DEVICE (or a training `--device`) names a device PyTorch does not see."""
