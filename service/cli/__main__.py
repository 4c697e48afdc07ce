"""``python -m service.cli``: the ``citeqa`` command."""

import sys

from service.cli import main

sys.exit(main())
