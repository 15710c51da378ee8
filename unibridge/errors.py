"""User-facing errors.

Every problem caused by the user's input (a missing data file, an empty corpus, an unknown
language code or task, an infeasible vocabulary size, a malformed recipe) raises a subclass of
:class:`UniBridgeError`. The CLI prints such errors as one line, without a traceback.
"""


class UniBridgeError(Exception):
    """Base class for errors caused by user input; printed as one line by the CLI."""


class DataError(UniBridgeError):
    """A data file is missing, empty or malformed."""


class ConfigError(UniBridgeError):
    """A recipe or option is invalid (unknown language, task, profile, method ...)."""


class VocabSizeError(UniBridgeError):
    """The corpus cannot support the requested vocabulary size."""
