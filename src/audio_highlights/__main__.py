"""Run the command line: ``python -m audio_highlights``."""

import sys

from .cli import main

sys.exit(main())
