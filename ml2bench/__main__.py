"""``python -m ml2bench`` is the ``ml2bench`` command."""

import sys

from ml2bench.cli import main

sys.exit(main())
