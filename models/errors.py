"""The one exception type for problems a user can fix (bad input, missing files).

The CLI prints it as a single line and exits with status 2, never a traceback.
"""


class UserError(Exception):
    """A problem with the user's input; the message says what to do."""
