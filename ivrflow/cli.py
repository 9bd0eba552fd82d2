"""The `ivrflow` command line: parse first, then run one subcommand, behind one error boundary.

Each subcommand is a function from parsed arguments to an exit code. Heavy imports happen
inside them, so `ivrflow validate` in a pre-commit hook never loads the HTTP stack.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ivrflow import output, scaffold, signals, startup
from ivrflow._version import __version__
from ivrflow.errors import ExitCode, FlowInvalid, InvalidInput, IvrflowError

if TYPE_CHECKING:
    from ivrflow.menu.testing import TestOutcome

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ivrflow command; return its exit code (argparse exits 2 on bad usage)."""
    with output.installed() as (out, err), signals.as_interrupts():
        try:
            args = parse(build_parser(), argv)
            startup.check()  # a stop that came while ivrflow started
            code = run_guarded(args.command, args)
        except KeyboardInterrupt:  # a signal outside the command's own handling
            startup.take_pending()
            stopped = startup.stopped_code(sys.argv[1:] if argv is None else argv)
            if stopped is None:
                print("ivrflow: interrupted", file=sys.stderr)
                stopped = int(ExitCode.INTERRUPTED)
            code = stopped
        return _output_verdict(code, out, err)


def _output_verdict(code: int, *streams: output.SafeStream) -> int:
    """A reader that left changes nothing (the exit code is the calls'); output that
    could not be written (a full disk) is an error of its own when all else went well."""
    for stream in streams:
        if stream.failed is not None:
            why = stream.failed.strerror or type(stream.failed).__name__
            print(f"ivrflow: cannot write to {stream.stream_name}: {why}", file=sys.stderr)
            if code == ExitCode.OK:
                code = int(ExitCode.INVALID_INPUT)
    return code


def _interrupted(args: argparse.Namespace) -> int:
    code = getattr(args, "interrupt_code", None)
    if code is not None:  # a command whose normal end is a signal (the sandbox)
        return int(code)
    print("ivrflow: interrupted", file=sys.stderr)
    return int(ExitCode.INTERRUPTED)


def run_guarded(command: Command, args: argparse.Namespace) -> int:
    """The error boundary: ivrflow's errors -> message + exit code, ^C -> 130, bugs -> log."""
    try:
        code = command(args)
    except IvrflowError as exc:
        print(_prefixed(str(exc)), file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        startup.take_pending()
        return _interrupted(args)
    except Exception as exc:  # the last resort: never a traceback on the terminal
        log = _write_crash_log()
        where = (f"The details are in {log}; please attach that file to a bug report."
                 if log else "No crash log could be written (no writable temporary "
                             "directory); run it again with TMPDIR set to one.")
        print(f"ivrflow: internal error ({type(exc).__name__}); this is a bug in ivrflow. "
              f"{where}", file=sys.stderr)
        return int(ExitCode.STEP_FAILED)
    if startup.take_pending():  # a stop came that the command did not act on
        return _interrupted(args)
    return code


_LOCATED = re.compile(r"\S+:\d+:\d+: ")


def _prefixed(message: str) -> str:
    """Located lines stay as FILE:LINE:COL: ...; the others say who is speaking."""
    return "\n".join(line if _LOCATED.match(line) else f"ivrflow: {line}"
                     for line in message.splitlines())


def _write_crash_log() -> str | None:
    """The path of a new file holding the traceback, or None when none can be written."""
    try:
        fd, name = tempfile.mkstemp(prefix="ivrflow-crash-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(f"ivrflow {__version__}\n{traceback.format_exc()}")
    except (OSError, RuntimeError):  # no writable temporary directory, a full disk
        return None
    return name


EXIT_CODES = """\
exit codes:
  0    success
  1    a step failed (rejected, outcome unknown, flow deadline), a test failed, or a bug
  2    invalid input: a file, a variable, the command line, missing credentials
  3    the call is not live or has ended
  4    the API refused the credentials
  5    the IVR did not say what the recipe expected (a listening wait)
  6    a placed call was answered by a machine, not a person, or the other way round
  130  interrupted (Ctrl-C, SIGTERM, SIGHUP)"""


class Parser(argparse.ArgumentParser):
    """argparse without its surprises: no abbreviated options (`--vars` is not
    `--vars-file`), and the exit codes under every command's help."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("epilog", EXIT_CODES)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; an unknown option is reported by the subcommand it follows, with that
    subcommand's usage and the options it may have meant. Values are never echoed (one
    may be a secret): only what looks like an option is named."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        owner: argparse.ArgumentParser = getattr(args, "parser", None) or parser
        options = [e.split("=", 1)[0] for e in extras if e.startswith("-") and e != "-"]
        if not options:
            owner.error(f"{len(extras)} unexpected argument(s) (not shown: one may be a "
                        "value such as a secret)")
        known = sorted(owner._option_string_actions)
        hints = []
        for option in options[:3]:
            close = difflib.get_close_matches(option, known, 2, 0.6)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            hints.append(output.escape_controls(option[:40], newlines=True) + hint)
        owner.error(f"unrecognized arguments: {', '.join(hints)}")
    return args


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="ivrflow", description="Navigate phone menus from YAML recipes over the Vobiz API.")
    parser.add_argument("-V", "--version", action="version", version=f"ivrflow {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True,
                                     parser_class=Parser)

    validate = commands.add_parser(
        "validate", help="check flow files and report every problem with its line",
        description="Check flow files and menu models (*.menu.yaml); directories are "
                    "searched for *.yaml and *.yml.")
    validate.add_argument("paths", nargs="+", metavar="PATH",
                          help="flow or menu files, or directories of them; - reads a flow "
                               "from standard input")
    _add_format_option(validate, "problems as text lines or one JSON document")
    validate.add_argument("-q", "--quiet", action="store_true",
                          help="print the problems only, no tally")
    validate.set_defaults(command=cmd_validate, parser=validate)

    plan = commands.add_parser(
        "plan", help="print a flow's timeline without touching the network",
        description="Resolve variables as a run would and print each step's start and length.")
    plan.add_argument("flow", metavar="FLOW", help="the flow file; - reads standard input")
    _add_variable_options(plan)
    _add_format_option(plan, "the timeline as a table or one JSON document")
    plan.set_defaults(command=cmd_plan, parser=plan)

    run = commands.add_parser(
        "run", help="run a flow on live calls",
        usage="ivrflow run FLOW (--call ID... | --calls FILE | --to NUMBER) [options]",
        description="Run a flow on one or many live calls through the Vobiz API. "
                    "Credentials come from VOBIZ_AUTH_ID and VOBIZ_AUTH_TOKEN. Give the "
                    "calls with --call (repeatable), --calls FILE, or both; or place the "
                    "call with --to.")
    run.add_argument("flow", metavar="FLOW", help="the flow file")
    run.add_argument("--call", action="append", default=[], metavar="ID",
                     help="a call's UUID (repeatable: one flow on several calls)")
    run.add_argument("--calls", metavar="FILE",
                     help="CSV (header: call,<variables>) or JSON Lines of calls and their "
                          "variable values")
    _add_variable_options(run)
    run.add_argument("--concurrency", type=_positive_int, default=1000, metavar="N",
                     help="at most N flows in flight (default 1000)")
    run.add_argument("--rate", type=_positive_float, metavar="R",
                     help="at most R API requests per second across all calls")
    run.add_argument("--api-url", metavar="URL",
                     help="API base URL (default: $VOBIZ_API_URL or https://api.vobiz.ai)")
    run.add_argument("--sandbox", action="store_true",
                     help="run against a built-in sandbox API on 127.0.0.1 instead")
    run.add_argument("--listen", default="127.0.0.1:8765", metavar="HOST:PORT",
                     help="with listening waits: where the call's audio stream is received "
                          "(default 127.0.0.1:8765; with --sandbox, a free port)")
    run.add_argument("--stream-url", metavar="URL",
                     help="with listening waits on a live call: the public wss:// address "
                          "at which Vobiz reaches --listen (a tunnel or reverse proxy)")
    run.add_argument("--to", metavar="NUMBER",
                     help="place the call: dial NUMBER (E.164 digits) through Make Call and "
                          "run the flow once it is answered; hangs up at the end")
    run.add_argument("--from", dest="caller", metavar="NUMBER",
                     help="with --to: the caller id (default: $VOBIZ_FROM)")
    run.add_argument("--public-url", metavar="URL",
                     help="with --to on a live call: the public https:// address at which "
                          "Vobiz reaches --listen with the call's callbacks")
    run.add_argument("--machine-detection", action="store_true",
                     help="with --to: ask Vobiz who answered, a person or a machine, and say "
                          "it (the flow's answered_by implies it, and requires one)")
    run.add_argument("--keep-call", action="store_true",
                     help="with --to: leave the call up when the flow ends, and print its uuid")
    run.add_argument("--record-audio", metavar="DIR",
                     help="with listening waits: save the call's audio heard as DIR/CALL.wav "
                          "(nothing is kept otherwise)")
    run.add_argument("--http-engine", choices=("aiohttp", "httpx"), default="aiohttp",
                     help="the HTTP client (default aiohttp, the fastest; httpx honours "
                          "HTTPS_PROXY, NO_PROXY and SSL_CERT_FILE)")
    run.add_argument("--menu", metavar="FILE",
                     help="with --sandbox: a menu model (*.menu.yaml) that answers the call "
                          "in real time, printing its path as it goes")
    run.add_argument("--json", action="store_true", help="JSON Lines events on stdout")
    run.add_argument("--dry-run", action="store_true",
                     help="print the plan and send nothing")
    run.add_argument("--color", "--colour", dest="color", choices=("auto", "always", "never"),
                     default="auto",
                     help="colour in human output (default auto: on a terminal, unless "
                          "NO_COLOR is set; FORCE_COLOR forces it)")
    _add_verbosity_options(run, "a batch's table lists only the calls that failed; one "
                                "call prints only what failed and the summary",
                           "print each step as it begins, too")
    run.set_defaults(command=cmd_run, parser=run)

    test = commands.add_parser(
        "test", help="play flows against their menu models on virtual time",
        description="Run each flow that has an `expect` block against its menu model on "
                    "virtual time; directories are searched for *.yaml and *.yml.")
    test.add_argument("paths", nargs="+", metavar="PATH",
                      help="flow files, or directories of them")
    test.add_argument("--junit", metavar="FILE",
                      help="also write a JUnit XML report (- for standard output, the "
                           "results then go to standard error)")
    _add_format_option(test, "results as text or one JSON document")
    test.add_argument("-q", "--quiet", action="store_true",
                      help="print only the failures and the tally")
    test.set_defaults(command=cmd_test, parser=test)

    schema = commands.add_parser(
        "schema", help="print the flow (or menu, or --json event) JSON Schema",
        description="Print a JSON Schema that ivrflow ships: point an editor or "
                    "check-jsonschema at it.")
    which = schema.add_mutually_exclusive_group()
    which.add_argument("--menu", action="store_true", help="the menu model schema instead")
    which.add_argument("--events", action="store_true",
                       help="the schema of one `run --json` event (a JSON Lines line) instead")
    schema.set_defaults(command=cmd_schema, parser=schema)

    completion = commands.add_parser(
        "completion", help="print a shell completion script",
        description="Print the completion script for SHELL, generated from this command "
                    "line. bash: ivrflow completion bash > ~/.local/share/bash-completion/"
                    "completions/ivrflow; zsh: ivrflow completion zsh > ~/.zfunc/_ivrflow; "
                    "fish: ivrflow completion fish > ~/.config/fish/completions/ivrflow.fish")
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), metavar="SHELL",
                            help="bash, zsh or fish")
    completion.set_defaults(command=cmd_completion, parser=completion)

    scaffold.add_parser(commands)
    _add_plugin_commands(commands)
    return parser


def _add_format_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help=f"text (default) or json: {help_text}")


def _add_verbosity_options(parser: argparse.ArgumentParser, quiet: str, verbose: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help=quiet)
    group.add_argument("-v", "--verbose", action="store_true", help=verbose)


def _add_variable_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="set a variable (strongest source; repeatable)")
    parser.add_argument("--vars-file", metavar="FILE",
                        help="a YAML mapping of variable values")


def _add_plugin_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Subcommands that live beside their component (the sandbox, ...)."""
    try:
        from ivrflow.sandbox import command as sandbox_command
    except ImportError:  # pragma: no cover - the sandbox ships with the package
        return
    sandbox_command.add_parser(commands)


def flow_files(paths: Sequence[str]) -> Iterator[Path]:
    """Files named on the command line, and *.yaml / *.yml under named directories; a
    stop signal is acted on between two files."""
    for name in paths:
        startup.check()
        path = Path(name)
        if name != "-" and path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")
                           and p.is_file() and not any(part.startswith(".") for part in
                                                       p.relative_to(path).parts))
            for one in found:
                startup.check()
                yield one
        else:
            yield path


def is_menu(path: Path) -> bool:
    """Menu models are named *.menu.yaml (or .yml); every other YAML file is a flow."""
    return path.name.endswith((".menu.yaml", ".menu.yml"))


def cmd_validate(args: argparse.Namespace) -> int:
    from ivrflow.language.loader import load_flow
    from ivrflow.menu.loader import load_menu

    results: list[tuple[Path, list[str], list[dict[str, object]]]] = []
    for path in flow_files(args.paths):
        try:
            load_menu(path) if is_menu(path) else load_flow(path)
            results.append((path, [], []))
        except FlowInvalid as exc:
            results.append((path, [str(p) for p in exc.problems],
                            [p.to_json() for p in exc.problems]))
    invalid = sum(1 for _, lines, _ in results if lines)
    if args.format == "json":
        print(json.dumps({"valid": invalid == 0, "files": [
            {"file": str(path), "valid": not lines, "problems": problems}
            for path, lines, problems in results]}, indent=2))
    else:
        for _, lines, _ in results:
            for line in lines:
                print(line)
        problems = sum(len(lines) for _, lines, _ in results)
        if not results:
            print("ivrflow: no *.yaml or *.yml files found", file=sys.stderr)
        elif args.quiet:
            pass
        elif invalid:
            print(f"{invalid} of {len(results)} file(s) invalid, {problems} problem(s)",
                  file=sys.stderr)
        else:
            print(f"{len(results)} file(s) valid", file=sys.stderr)
    return int(ExitCode.INVALID_INPUT if invalid or not results else ExitCode.OK)


def load_and_resolve(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The flow named by `args.flow` and its resolved variables, as every run command needs."""
    from ivrflow.language.loader import load_flow
    from ivrflow.language.variables import parse_assignments, read_vars_file, resolve

    flow = load_flow(args.flow)
    cli = parse_assignments(args.var)
    file_values = read_vars_file(args.vars_file) if args.vars_file else None
    bindings = resolve(flow, cli=cli, file_values=file_values,
                       file_name=args.vars_file or "--vars-file")
    return flow, bindings


def cmd_plan(args: argparse.Namespace) -> int:
    from ivrflow.language.plan import make_plan, render, to_json

    flow, bindings = load_and_resolve(args)
    plan = make_plan(flow, bindings)
    if args.format == "json":
        print(json.dumps(to_json(plan), indent=2))
    else:
        print(render(plan))
    return int(ExitCode.OK)


MAX_CONCURRENCY = 100_000
MIN_RATE, MAX_RATE = 0.01, 100_000.0
_WHOLE = re.compile(r"[0-9]{1,7}")
_DECIMAL = re.compile(r"[0-9]{1,7}(\.[0-9]{1,6})?")


def _positive_int(text: str) -> int:
    """--concurrency: ASCII digits, 1 to 100,000."""
    if not _WHOLE.fullmatch(text) or not 1 <= int(text) <= MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {MAX_CONCURRENCY:,}, got {_shown(text)}")
    return int(text)


def _positive_float(text: str) -> float:
    """--rate: a plain decimal (no exponent, no inf or nan), 0.01 to 100,000 per second."""
    if not _DECIMAL.fullmatch(text) or not MIN_RATE <= float(text) <= MAX_RATE:
        raise argparse.ArgumentTypeError(
            f"expected requests per second from {MIN_RATE:g} to {MAX_RATE:,.0f} such as 5 or "
            f"0.5, got {_shown(text)}")
    return float(text)


def _shown(text: str) -> str:
    """A command-line value quoted in a message: escaped, and cut if long."""
    text = output.escape_controls(text, newlines=True)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def cmd_run(args: argparse.Namespace) -> int:
    from ivrflow.engine.batch import Job
    from ivrflow.engine.calls import read_calls, report
    from ivrflow.engine.execute import Options, run_command
    from ivrflow.language.loader import load_flow
    from ivrflow.language.variables import parse_assignments, read_vars_file, resolve

    flow = load_flow(args.flow)
    cli = parse_assignments(args.var)
    file_values = read_vars_file(args.vars_file) if args.vars_file else None
    file_name = args.vars_file or "--vars-file"
    if args.to is not None and (args.call or args.calls):
        raise InvalidInput("--to places the call the flow runs on: leave out --call and "
                           "--calls")
    # a placed call's uuid comes with its answer; until then the job has a stand-in
    specs, problems = read_calls(["placed-call"] if args.to is not None else args.call,
                                 args.calls, flow)
    shared = None
    jobs = []
    for spec in specs:
        clash = sorted(set(spec.values) & set(cli))
        if clash:
            problems.append(f"{spec.cell(clash[0])}: '{clash[0]}' is given both by --var and "
                            "by the calls file; drop one of them")
            continue
        try:
            if spec.values:
                bindings = resolve(flow, cli=cli, file_values=file_values,
                                   file_name=file_name, row=spec.values, row_where=spec.cell)
            else:  # every --call (and every row without values) shares one resolution
                shared = shared or resolve(flow, cli=cli, file_values=file_values,
                                           file_name=file_name)
                bindings = shared
        except InvalidInput as exc:
            problems += str(exc).splitlines()
            continue
        jobs.append(Job(spec.call, bindings, spec.to))
    if problems:
        raise report(problems)
    batch = len(jobs) > 1 or args.calls is not None
    menu = None
    if args.menu is not None:
        if not args.sandbox:
            raise InvalidInput("--menu plays a menu model behind the built-in sandbox: add "
                               "--sandbox")
        from ivrflow.menu.loader import load_menu

        menu = load_menu(args.menu, speak=True)
    if args.dry_run:
        from ivrflow.language.plan import make_plan, render

        if args.to is not None:
            print(_make_call_shown(args))
        print(render(make_plan(flow, jobs[0].bindings)))
        if batch:
            print(f"\n(the plan of the first call; {len(jobs)} calls in all, nothing sent)")
        return int(ExitCode.OK)
    from ivrflow.engine.report import colour_choice

    options = Options(json=args.json, batch=batch, concurrency=args.concurrency,
                      rate=args.rate, menu=menu, colour=colour_choice(args.color, sys.stderr),
                      verbosity=-1 if args.quiet else 1 if args.verbose else 0,
                      engine=args.http_engine, listen=args.listen,
                      stream_url=args.stream_url, record_audio=args.record_audio,
                      to=args.to, caller=args.caller, public_url=args.public_url,
                      keep_call=args.keep_call, machine_detection=args.machine_detection)
    return run_command(flow, jobs, options, api_url=args.api_url, sandbox=args.sandbox)


def _make_call_shown(args: argparse.Namespace) -> str:
    """The Make Call request `--to` would send, for --dry-run: checked as a run would,
    the token never shown."""
    import os

    from ivrflow.engine.dialing import RING_TIMEOUT, check_dialing
    from ivrflow.transport.checks import DEFAULT_API_URL

    dialing = check_dialing(to=args.to, caller=args.caller, public_url=args.public_url,
                            sandbox=args.sandbox, keep_call=args.keep_call, calls=1,
                            environ=os.environ, machine_detection=args.machine_detection)
    assert dialing is not None
    base = "http://127.0.0.1:PORT" if args.sandbox else dialing.public
    api = "" if args.sandbox else (args.api_url or os.environ.get(
        "VOBIZ_API_URL") or DEFAULT_API_URL).rstrip("/")
    account = os.environ.get("VOBIZ_AUTH_ID") or "$VOBIZ_AUTH_ID"
    urls = "\n".join(f"  {kind}_url: {base}/cb/<a new token each run>/{kind} (POST)"
                     for kind in ("answer", "ring", "hangup"))
    where = " on the sandbox" if args.sandbox else ""
    return (f"would place a call (nothing is sent): POST {output.escape_controls(api)}"
            f"/api/v1/Account/{output.escape_controls(account)}/Call/{where} "
            f"(X-Auth-Token: ****)\n  from: {dialing.caller}\n  to: {dialing.to}\n{urls}\n"
            f"  ring_timeout: {RING_TIMEOUT}\n"
            f"then: {'leave the call up' if dialing.keep_call else 'hang up'} when the "
            "flow ends\n")


def write_report(name: str, data: bytes, option: str) -> None:
    """Write a report file; a path that cannot be written is invalid input (exit 2)."""
    try:
        with open(name, "wb") as handle:
            handle.write(data)
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or "not a usable path"
        shown = output.escape_controls(name, newlines=True)
        raise InvalidInput(f"{option} {shown}: cannot write the report: {why}") from None


def cmd_completion(args: argparse.Namespace) -> int:
    from ivrflow.completion import script

    sys.stdout.write(script(build_parser(), args.shell))
    return int(ExitCode.OK)


def cmd_schema(args: argparse.Namespace) -> int:
    from ivrflow.language.schema import schema_text

    if args.events:
        from ivrflow.engine.events import schema_text as events_schema_text

        sys.stdout.write(events_schema_text())
    else:
        sys.stdout.write(schema_text("menu.schema.json" if args.menu else "flow.schema.json"))
    return int(ExitCode.OK)


def cmd_test(args: argparse.Namespace) -> int:
    import time
    from datetime import datetime

    from ivrflow.language.loader import load_flow
    from ivrflow.menu.testing import junit, render, run_expectation

    if args.junit == "":
        raise InvalidInput("--junit is empty: give a file name, or - for standard output")
    # with the JUnit report on stdout, the results go to stderr
    say = sys.stderr if args.junit == "-" or args.format == "json" else sys.stdout
    started = datetime.now()
    outcomes: list[TestOutcome] = []
    invalid: list[tuple[str, str]] = []
    invalid_seconds: list[float] = []
    untested: list[str] = []
    for path in flow_files(args.paths):
        if is_menu(path):
            continue
        began = time.perf_counter()
        try:
            flow = load_flow(path)
            if flow.expect is None:
                untested.append(str(path))
                continue
            outcome = run_expectation(flow)
        except IvrflowError as exc:  # an invalid flow or menu, or test values that fail
            invalid.append((str(path), str(exc)))
            invalid_seconds.append(time.perf_counter() - began)
            if args.format == "text":
                print(_prefixed(str(exc)), file=say)
            continue
        outcomes.append(outcome)
        if args.format == "text" and (not args.quiet or not outcome.passed):
            print(render(outcome), file=say)
    passed = sum(1 for o in outcomes if o.passed)
    if args.format == "json":
        print(json.dumps(_test_json(outcomes, invalid, untested), indent=2))
    else:
        tally = f"{passed} passed, {len(outcomes) - passed} failed"
        if invalid:
            tally += f", {len(invalid)} invalid"
        if untested:
            tally += f" ({len(untested)} flow(s) without an expect block not tested)"
        print(tally, file=say)
    if args.junit is not None:
        data = junit(outcomes, [(path, message, seconds) for (path, message), seconds
                                in zip(invalid, invalid_seconds, strict=True)],
                     untested, started=started)
        if args.junit == "-":
            sys.stdout.flush()
            sys.stdout.write(data.decode("utf-8"))
            sys.stdout.flush()
        else:
            write_report(args.junit, data, "--junit")
    if invalid:
        return int(ExitCode.INVALID_INPUT)
    if not outcomes:
        print("ivrflow: no flow with an expect block found", file=sys.stderr)
        return int(ExitCode.INVALID_INPUT)
    return int(ExitCode.OK if passed == len(outcomes) else ExitCode.STEP_FAILED)


def _test_json(outcomes: Sequence[TestOutcome], invalid: Sequence[tuple[str, str]],
               untested: Sequence[str]) -> dict[str, object]:
    passed = sum(1 for o in outcomes if o.passed)
    return {
        "passed": passed, "failed": len(outcomes) - passed, "invalid": len(invalid),
        "untested": len(untested),
        "tests": [{
            "file": o.flow.path, "flow": o.flow.name, "passed": o.passed,
            "expected": o.flow.expect.reach if o.flow.expect else None,
            "reached": o.final or None, "reason": o.reason or None,
            "ending": o.ending,
            "call_seconds": round(o.virtual, 6),
            "path": [{"node": h.node, "t": h.t} for h in o.path]} for o in outcomes],
        "invalid_files": [{"file": path, "message": message} for path, message in invalid],
        "untested_files": list(untested),
    }
