"""The one exception type the codec raises for bad input, bad files and bad weights."""


class DCNError(ValueError, OSError):
    """A user-facing error: the message is one line that says what is wrong. An OSError
    too, because that is what Pillow's users catch for a file it cannot read."""
