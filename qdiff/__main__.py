"""``python -m qdiff``: the command line."""

import sys

from qdiff.apps.cli import main

sys.exit(main())
