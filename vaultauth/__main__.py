"""`python -m vaultauth` runs the same command line as `vaultauth`."""

from vaultauth.cli import main

main()
