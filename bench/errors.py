"""The one exception type for bad user input.

``UserError`` subclasses ``ValueError`` so library callers can catch the usual type; the command
line turns it into one message on stderr and exit status 2, never a traceback.
"""


class UserError(ValueError):
    """Bad input from the user: the message names the bad value and what is allowed."""
