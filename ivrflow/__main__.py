import sys

from ivrflow.cli import main

sys.exit(main())
