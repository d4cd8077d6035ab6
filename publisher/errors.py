"""Errors a person caused (a bad post, a bad setting): shown as one clear message, exit 2."""


class InputError(Exception):
    """Bad user input. `where` names the file/field/line, `what` says what is expected."""

    exit_code = 2

    def __init__(self, where: str, what: str):
        super().__init__(f"{where}: {what}")
        self.where = where
        self.what = what


class PostError(InputError):
    """A post file that cannot be published."""


class ConfigError(InputError):
    """A setting that is missing, unknown or malformed."""
