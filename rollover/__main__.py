"""`python -m rollover`."""

from rollover.cli import main

main()
