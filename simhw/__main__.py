import sys

from simhw.app.cli import main

sys.exit(main())
