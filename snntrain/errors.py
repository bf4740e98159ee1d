"""User-facing errors: each is reported as one line and a non-zero exit code, never a traceback."""


class SnntrainError(Exception):
    """An error the user can act on. `exit_code` is what the CLI exits with."""

    exit_code = 1


class ConfigError(SnntrainError):
    """A model file or `--set` override is invalid (exit code 2, like click's usage errors)."""

    exit_code = 2


class UsageError(SnntrainError):
    """A command was given arguments that do not go together (exit code 2, like click's usage errors)."""

    exit_code = 2


class DataError(SnntrainError):
    """A dataset is missing, corrupt, or cannot be fetched."""

    exit_code = 1
