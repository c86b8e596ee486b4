"""``python -m rtcsignal``: see :mod:`rtcsignal.cli`."""

from rtcsignal.cli import main

raise SystemExit(main())
