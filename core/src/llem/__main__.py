"""`python -m llem` runs the CLI."""

from llem.cli import main

main()
