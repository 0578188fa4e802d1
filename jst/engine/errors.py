"""Errors a user can cause: the CLI prints them as one line and exits with status 2."""


class JstError(Exception):
    """Bad input: a clear one-line message, nothing already written is touched."""


class DataError(JstError):
    pass


class ConfigError(JstError):
    pass


class CheckpointError(JstError):
    pass


class TrainingDiverged(Exception):
    """Loss became NaN/Inf; the last good checkpoint is kept."""
