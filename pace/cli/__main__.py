"""``python -m pace.cli``: the same as ``pace-worker``."""

import sys

from pace.cli.main import main

sys.exit(main())
