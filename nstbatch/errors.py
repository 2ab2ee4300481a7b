"""The project's exception types and the exit codes they map to.

Library code raises these; only the CLI turns them into exit codes.
"""

EXIT_OK = 0
EXIT_FAILED = 1  # some input failed; the rest of the batch was still done
EXIT_USAGE = 2  # bad option, missing style file, ...: reported before any work starts


class NstError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""

    exit_code = EXIT_FAILED


class UsageError(NstError):
    """A bad option value or a missing required file, found before any work starts."""

    exit_code = EXIT_USAGE


class WeightsError(UsageError):
    """The VGG-19 weights are missing or are not what we expect."""


class ImageError(NstError):
    """One input image cannot be used (unreadable, not an image, truncated, too large)."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelError(UsageError):
    """A styliser model or checkpoint that is damaged, foreign, or of the wrong kind."""
