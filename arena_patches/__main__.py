"""`python -m arena_patches`: the command line."""
import sys

from arena_patches.cli import main

sys.exit(main())
