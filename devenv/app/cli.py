"""The command line: thin typer wrappers around ``devenv.commands.<name>.run``.

Only typer is imported at start-up; each wrapper imports its command module when
it runs, so ``devenv --help`` and shell completion stay fast. Errors become a
message and an exit code in one place, :func:`_invoke`.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from .. import __version__
from ..core.errors import EXIT_INTERRUPTED, EXIT_OK, DevenvError

app = typer.Typer(
    name="devenv",
    help="Dev-mode for RAGFlow's docker compose stack: live mounts, fast verified reloads.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"devenv {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    project: Optional[Path] = typer.Option(
        None, "-C", "--project", help="The RAGFlow checkout (default: this folder or the nearest parent with docker/docker-compose.yml).",
        envvar="DEVENV_PROJECT",  # a file is refused by find_checkout, in devenv's words
    ),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only warnings, errors and results."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    ctx.obj = {"project": project, "quiet": quiet}


def new_context(project: Optional[Path], ui: Any) -> Any:
    """The AppContext a command runs with. The one seam for CLI tests: they replace
    this function to pass a fake engine and a fixed environment."""
    from .context import AppContext

    return AppContext(project=project, ui=ui)


def _invoke(ctx: typer.Context, run: Callable[..., int], **kwargs: Any) -> None:
    """Run a command's ``run(app, **kwargs)`` and turn its result or error into an exit code.

    With ``--json`` (``as_json``) an error is also printed on stdout as one JSON object,
    ``{"error": ..., "fix": ..., "exit": N}``, so a script never reads an empty answer.
    """
    from .ui import UI

    obj = ctx.obj or {}
    ui = UI(quiet=obj.get("quiet", False), secrets=os.environ)  # the checkout's .env joins once it is read
    app_ctx = new_context(obj.get("project"), ui)
    try:
        code = run(app_ctx, **kwargs)
    except DevenvError as e:
        code = fail(ui, e, as_json=kwargs.get("as_json", False))
    except KeyboardInterrupt:
        ui.info("interrupted")
        code = EXIT_INTERRUPTED
        if kwargs.get("as_json"):
            ui.print(json.dumps({"error": "interrupted", "fix": None, "exit": code}))
    except BrokenPipeError:  # `devenv logs -f | head`: the reader is gone, so is the point of going on
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep the interpreter's final flush quiet
        code = EXIT_OK
    except OSError as e:  # a file devenv could not write or read (read-only checkout, full disk): never a traceback
        code = fail(ui, unwritable(e), as_json=kwargs.get("as_json", False))
    raise typer.Exit(code)


def unwritable(e: OSError) -> DevenvError:
    """An OSError no lower layer turned into a DevenvError, as one line with a fix."""
    where = f" {e.filename}" if e.filename else ""
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        from .fsio import READ_ONLY_FIX

        return DevenvError(f"cannot write{where}: {e.strerror}", fix=READ_ONLY_FIX)
    if e.errno == errno.ENOSPC:
        return DevenvError(f"cannot write{where}: {e.strerror}", fix="free some disk space, then try again")
    return DevenvError(f"{e.strerror or e}{where}",
                       fix="check that the checkout's files and folders are readable and writable by you")


def fail(ui: Any, e: DevenvError, *, as_json: bool = False) -> int:
    report(ui, e)
    if as_json:
        ui.print(json.dumps({"error": e.message, "fix": e.fix, "exit": e.exit_code}))
    return e.exit_code


def report(ui: Any, e: DevenvError) -> None:
    ui.error(e.message)
    for line in e.details:
        ui.detail(line)
    if e.fix:
        ui.detail(f"fix: {e.fix}")


@app.command()
def init(ctx: typer.Context, force: bool = typer.Option(False, "--force", help="Replace an existing devenv.toml (kept as .bak).")) -> None:
    """Write a commented devenv.toml with what devenv detected in the checkout."""
    from ..commands import init as command

    _invoke(ctx, command.run, force=force)


@app.command()
def plan(
    ctx: typer.Context,
    stdout: bool = typer.Option(False, "--stdout", help="Print the override instead of writing it."),
    check: bool = typer.Option(False, "--check", help="Exit 1 when the override on disk is not what would be generated."),
    force: bool = typer.Option(False, "--force", help="Replace a hand-edited override (kept as .bak)."),
    debug: bool = typer.Option(False, "--debug", help="Plan for `devenv up --debug` (debugger port on 127.0.0.1)."),
) -> None:
    """Write docker/docker-compose.devenv.yml and create the folders it mounts."""
    from ..commands import plan as command

    _invoke(ctx, command.run, to_stdout=stdout, check=check, force=force, debug=debug)


@app.command()
def up(
    ctx: typer.Context,
    detach: bool = typer.Option(False, "-d", "--detach", help="Start and return; do not watch."),
    debug: bool = typer.Option(False, "--debug", help="Let a debugger attach to the server (debugpy, 127.0.0.1 only)."),
    recreate: bool = typer.Option(False, "--recreate", help="Recreate the containers even if nothing changed."),
    force: bool = typer.Option(False, "--force", help="Replace a hand-edited override (kept as .bak)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds to wait for health (default: server.start_timeout)."),
) -> None:
    """Start the stack in dev mode, wait until healthy, then watch and reload."""
    from ..commands import up as command

    _invoke(ctx, command.run, detach=detach, debug=debug, recreate=recreate, force=force, timeout=timeout)


@app.command()
def watch(ctx: typer.Context) -> None:
    """Watch the checkout and reload a running dev-mode stack (what `up` does after starting)."""
    from ..commands import watch as command

    _invoke(ctx, command.run)


@app.command()
def down(
    ctx: typer.Context,
    volumes: bool = typer.Option(False, "--volumes", help="Also delete the stack's named volumes (databases, models)."),
    yes: bool = typer.Option(False, "-y", "--yes", help="Do not ask before deleting volumes."),
) -> None:
    """Stop and remove the containers; volumes, caches and logs are kept."""
    from ..commands import down as command

    _invoke(ctx, command.run, volumes=volumes, yes=yes)


@app.command()
def reclaim(ctx: typer.Context) -> None:
    """Give back the files the containers wrote as root in the checkout (down does it too)."""
    from ..commands import reclaim as command

    _invoke(ctx, command.run)


@app.command()
def status(ctx: typer.Context, json_: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Services, health, mounts as the engine sees them, caches, and the last reload."""
    from ..commands import status as command

    _invoke(ctx, command.run, as_json=json_)


@app.command()
def logs(
    ctx: typer.Context,
    service: Optional[str] = typer.Argument(None, help="Service (default: the RAGFlow server)."),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new lines."),
    tail: str = typer.Option("200", "--tail", help='Lines from the end, or "all".'),
) -> None:
    """Show a service's logs."""
    from ..commands import logs as command

    _invoke(ctx, command.run, service=service, follow=follow, tail=tail)


@app.command()
def shell(
    ctx: typer.Context,
    service: Optional[str] = typer.Argument(None, help="Service (default: the RAGFlow server)."),
) -> None:
    """Open an interactive shell in a service's container."""
    from ..commands import shell as command

    _invoke(ctx, command.run, service=service)


@app.command()
def restart(
    ctx: typer.Context,
    service: Optional[str] = typer.Argument(None, help="Service (default: the RAGFlow server, by its fast path)."),
    container: bool = typer.Option(False, "--container", help="Restart the whole container instead of the Python processes."),
) -> None:
    """Restart the server's Python processes (fast), or a whole service."""
    from ..commands import restart as command

    _invoke(ctx, command.run, service=service, whole=container)


@app.command()
def verify(ctx: typer.Context, json_: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Prove the dev loop works: mounts live, restart, new process, healthy."""
    from ..commands import verify as command

    _invoke(ctx, command.run, as_json=json_)


@app.command()
def doctor(ctx: typer.Context, json_: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Check the engine, compose, ports, limits and the checkout; each check says how to fix it."""
    from ..commands import doctor as command

    _invoke(ctx, command.run, as_json=json_)


@app.command()
def vscode(ctx: typer.Context, dry_run: bool = typer.Option(False, "--dry-run", help="Print the merged files instead of writing.")) -> None:
    """Add a devenv task and a debugger launch configuration to the checkout's .vscode/."""
    from ..commands import vscode as command

    _invoke(ctx, command.run, dry_run=dry_run)


@app.command()
def makefile(ctx: typer.Context, write: bool = typer.Option(False, "--write", help="Add the targets to the checkout's Makefile.")) -> None:
    """Print (or add) Makefile targets that run devenv."""
    from ..commands import makefile as command

    _invoke(ctx, command.run, write=write)


@app.command()
def demo(
    ctx: typer.Context,
    directory: Path = typer.Argument(Path("ragflow-demo"), help="Where to put the demo checkout."),
) -> None:
    """Copy the bundled RAGFlow-shaped demo checkout to try devenv without RAGFlow."""
    from ..commands import demo as command

    _invoke(ctx, command.run, directory=directory)


def main() -> None:
    app(prog_name="devenv")


if __name__ == "__main__":  # pragma: no cover
    main()
