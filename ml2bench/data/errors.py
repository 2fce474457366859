"""User-facing errors of the data layer.

The data layer reuses the project-wide :class:`ml2bench.errors.UserError`: every
problem a user can cause or fix (a missing or malformed file, an unreachable mirror,
an unsafe archive) is raised as a ``UserError`` whose message is one sentence naming
the file or URL and the defect. The command line prints it without a traceback.
"""

from ml2bench.errors import UserError

__all__ = ["UserError"]
