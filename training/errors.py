"""Errors of the offline learning loop; the CLI and the admin API translate them for people."""


class TrainingError(Exception):
    """Base class: `str(error)` says what is wrong and what to do."""


class DatasetError(TrainingError):
    """The training data cannot be used (missing columns, empty answers, duplicates, too few groups)."""


class BaseModelNotFound(TrainingError):
    """The model to fine-tune does not exist where it was said to be."""


class RegistryError(TrainingError):
    """A registry entry is missing, malformed or of the wrong kind."""


class PromotionRefused(TrainingError):
    """The candidate is worse than the promoted model on the gate metrics (and promotion was not forced)."""
