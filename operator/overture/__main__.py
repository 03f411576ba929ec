"""``python -m overture`` is the ``overture`` command."""

import sys

from overture.cli import main

sys.exit(main())
