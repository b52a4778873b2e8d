"""Errors caused by the user's input or environment: the CLI prints them as one line, no traceback."""


class UserError(Exception):
    """A problem the user can fix (bad flag, missing data, unwritable output)."""


class ConfigError(UserError):
    pass


class DataError(UserError):
    pass


class OutputError(UserError):
    pass
