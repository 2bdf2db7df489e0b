"""``python -m maildesk.cli``, as the tests run it."""

from maildesk.cli.main import main

main()
