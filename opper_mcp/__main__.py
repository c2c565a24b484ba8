"""`python -m opper_mcp`."""

import sys

from opper_mcp.cli import main

sys.exit(main())
