"""Run `python -m clickkit.release`."""

import sys

from clickkit.release.build import main

sys.exit(main())
