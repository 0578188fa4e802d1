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


class FolderInUse(JstError):
    """Another live process holds the folder's lock (jst.engine.lock): one writer per run folder."""


class Stopped(BaseException):
    """SIGTERM or SIGINT arrived (jst.engine.stopping). A BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` turns a stop into an error; ``finally`` blocks and lock releases still run."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
