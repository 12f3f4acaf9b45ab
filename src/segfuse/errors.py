"""User-facing errors: each carries one line that names the problem.

Hosts print ``str(error)`` and exit non-zero; a traceback is never the message.
"""


class SegFuseError(Exception):
    """Base of every error a user can cause and fix."""


class InputError(SegFuseError):
    """A file or frame cannot be used: missing, corrupt, wrong size, NaN pixels."""


class GraphError(SegFuseError):
    """A graph file or graph description is invalid."""


class NodeError(SegFuseError):
    """A node rejected its inputs or params; names the node when the runtime knows it."""


class ColorError(SegFuseError):
    """The OCIO config or a colourspace name cannot be resolved."""
