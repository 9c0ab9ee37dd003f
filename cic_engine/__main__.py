import sys

from cic_engine.cli import main

sys.exit(main())
