"""``python -m maildesk.cli``: what the tests and the systemd unit run."""

from maildesk.cli.main import main

main()
