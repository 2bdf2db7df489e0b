"""``maildesk rules check`` (each problem as FILE:LINE) and ``rules test`` (a dry run on one message)."""

from __future__ import annotations

import argparse
import sys

from maildesk.cli.common import config_path, load_settings
from maildesk.cli.output import dumps
from maildesk.errors import ConfigError, ExitCode


def cmd_rules_check(args: argparse.Namespace) -> int:
    from maildesk import config
    from maildesk.runtime.checks import check_everything

    path = config_path(args)
    try:
        settings = config.load_settings(path) if path.exists() else load_settings(args)
    except ConfigError as exc:  # listed like rule problems: one bare FILE:LINE: line each, for editors
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return ExitCode.CONFIG
    problems = check_everything(settings, warn=lambda line: print(f"maildesk: {line}", file=sys.stderr))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return ExitCode.CONFIG
    print(f"{settings.path}: config, rules and templates are valid")
    return ExitCode.OK


def cmd_rules_test(args: argparse.Namespace) -> int:
    from maildesk.ingest.read import check_message_file, max_message_size, read_message
    from maildesk.runtime.checks import dry_run

    settings = load_settings(args)
    check_message_file(args.message)
    data = read_message(args.message, max_message_size(settings), empty_ok=True)
    try:
        decision, automation = dry_run(settings, data)
    except ValueError as exc:  # rules or templates that do not load: configuration
        raise ConfigError([str(exc)]) from None
    shape = decision.as_dict()
    if args.format == "json":
        print(dumps(shape))
        return ExitCode.OK
    if automation:
        print(f"automatic message ({automation}): no acknowledgement would be sent")
    print("matched: " + (", ".join(shape["matched"]) or "(no rule)"))
    for key, value in shape["set"].items():
        print(f"  {key + ':':13}{_shown(value)}")
        if key == "level":  # the JSON shape is fixed by SPEC section 8; the text also says where it goes
            team = settings.team(decision.team) or settings.route(
                int(value or settings.levels[0].id), decision.category, decision.application, decision.kind
            )
            print(f"  {'team:':13}{team.name if team is not None else '-'}")
    for key in ("forward", "answer", "drop"):
        print(f"{key + ':':15}{_shown(shape[key])}")
    return ExitCode.OK


def _shown(value: object) -> str:
    if value is None or value == []:
        return "-"
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    rules = sub.add_parser("rules", parents=[common], help="check and dry-run the rules")
    rsub = rules.add_subparsers(dest="action", required=True, metavar="ACTION")
    rsub.add_parser("check", parents=[common]).set_defaults(func=cmd_rules_check)
    rtest = rsub.add_parser("test", parents=[common])
    rtest.add_argument("message", metavar="MESSAGE.eml")
    rtest.add_argument("--format", choices=("text", "json"), default="text")
    rtest.set_defaults(func=cmd_rules_test)
