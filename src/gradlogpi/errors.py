"""Exceptions raised by gradlogpi.

Every error names the argument, what was expected and what was received.
"""


class GradlogpiError(Exception):
    """Base class of every error gradlogpi raises on purpose."""


class ShapeError(GradlogpiError, ValueError):
    """An array argument has the wrong shape or size."""


class MissingExtraError(GradlogpiError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""


class NonFiniteError(GradlogpiError, FloatingPointError):
    """A reward, observation or parameter became NaN or infinite."""


class ConfigError(GradlogpiError, ValueError):
    """A configuration file or value is invalid; the message names file, key and value."""


class CheckpointError(GradlogpiError, OSError):
    """A checkpoint file is missing, truncated, garbled or unsafe."""


class NonTerminatingError(GradlogpiError, ValueError):
    """γ = 1 and, under the policy, episodes do not end with probability 1: v_π is infinite."""


class RunDirectoryError(GradlogpiError, OSError):
    """A run directory cannot be used: it holds another run, another writer has it, or the
    filesystem refuses it."""


class StudyError(GradlogpiError, ValueError):
    """A hyperparameter study (`gradlogpi tune`) cannot be opened or continued: its storage
    cannot be opened, or the study stored under its name was made with another search space,
    other seeds or other settings."""
