import sys

from nnkit.cli import main

sys.exit(main())
