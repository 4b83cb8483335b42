"""`python -m vaultauth` runs the same command line as `vaultauth`."""

from vaultauth.entry import main

if __name__ == "__main__":
    main()
