"""``python -m optex``: the ``optex`` command, for a process started by path-independent means
(``optex devnet`` starts its services this way, with the interpreter it runs on)."""

import sys

from optex.cli import main

sys.exit(main())
