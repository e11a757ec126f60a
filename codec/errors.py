"""The one exception type the codec raises for bad input, bad files and bad weights."""


class DCNError(ValueError):
    """A user-facing error: the message is one line that says what is wrong."""
