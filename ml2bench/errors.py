"""User-facing errors.

A :class:`UserError` carries one sentence that says what is wrong and what is valid.
The command line prints it (without a traceback) and exits with status 2.
"""


class UserError(Exception):
    """An error caused by the user's input (names, parameters, files, devices).

    The message is a single sentence meant to be printed as is.
    """
