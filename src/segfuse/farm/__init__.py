"""Farm rendering: one graph's frame range split into chunks rendered by many processes or machines.

The farm is a render backend, not a second runtime: every chunk runs the ordinary render loop
(``segfuse.runtime.render_graph``) on its frames, pulling the pre-roll its graph needs through
``frames_needed``, and writes with the same atomic per-frame files. Dask distributed runs the
chunks (``dask_backend``); Open Job Description templates hand them to studio queues
(``openjd``). Dask is optional (``pip install 'segfuse[farm]'``) and imported only when used.
"""

from __future__ import annotations

from segfuse.errors import GraphError

INSTALL_HINT = "pip install 'segfuse[farm]'"
DEFAULT_TIMEOUT = 10.0  # seconds to reach a scheduler, or to see a first worker


class FarmError(GraphError):
    """A farm render cannot start: no Dask, no scheduler, a worker that cannot see a file."""


def require_distributed():
    """The ``distributed`` module, or one clear error naming the extra to install."""
    try:
        import distributed
    except ImportError:
        raise FarmError(f"--dask needs Dask distributed, which is not installed: {INSTALL_HINT}") from None
    return distributed
