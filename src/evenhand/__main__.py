"""Allow ``python -m evenhand``."""

import sys

from evenhand.cli import main

sys.exit(main())
