"""``python -m epiradar``: the command line."""

from epiradar.cli import main

main()
