"""``python -m minitorch_grading``: the same as the ``minitorch-course`` command."""

import sys

from minitorch_grading.cli import main

sys.exit(main())
