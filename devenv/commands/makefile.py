"""``devenv makefile``: Makefile targets that run devenv, printed or added to the checkout's Makefile.

``--write`` keeps devenv's targets in one marked block::

    # >>> devenv >>>
    ...
    # <<< devenv <<<

appended at the end the first time (the Makefile is created when missing) and
replaced in place later; nothing outside the block is touched. When the
Makefile already defines one of the targets outside the block, devenv stops
and writes nothing: two recipes for one target would make ``make`` warn and
run only the last one.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..app.context import AppContext
from ..app.fsio import atomic_write, find_checkout
from ..core.errors import EXIT_OK, DevenvError

BEGIN = "# >>> devenv >>>"
END = "# <<< devenv <<<"

# target -> (devenv arguments, help)
TARGETS: dict[str, tuple[str, str]] = {
    "dev": ("up", "start RAGFlow in dev mode and reload on save"),
    "dev-down": ("down", "stop the dev-mode stack (volumes are kept)"),
    "dev-status": ("status", "services, health, mounts and the last reload"),
    "dev-logs": ("logs -f", "follow the RAGFlow server's log"),
    "dev-verify": ("verify", "prove the dev loop works"),
}


def block(nl: str = "\n") -> str:
    """devenv's block, markers included, ending with a newline. Recipes start with a tab."""
    lines = [
        BEGIN,
        "# Added by `devenv makefile --write`, which replaces this block on later runs.",
        "DEVENV ?= devenv",
        "",
        ".PHONY: " + " ".join(TARGETS),
    ]
    for target, (args, help_text) in TARGETS.items():
        lines += [f"{target}:  ## {help_text}", f"\t$(DEVENV) {args}"]
    lines.append(END)
    return nl.join(lines) + nl


def run(app: AppContext, *, write: bool = False) -> int:
    if not write:
        app.ui.print(block().rstrip("\n"))
        app.ui.info("add these targets to the checkout's Makefile with `devenv makefile --write`")
        return EXIT_OK
    root = find_checkout(app.project or Path.cwd())
    path = root / "Makefile"
    try:
        before = path.read_bytes().decode("utf-8") if path.exists() else None
    except UnicodeDecodeError:
        raise DevenvError(f"{path} is not UTF-8 text; devenv will not edit it") from None
    result = insert_block(before)
    if isinstance(result, Refusal):
        raise DevenvError(f"{path}: {result.message}", fix=result.fix)
    if result == before:
        app.ui.info(f"{path} already has devenv's targets: unchanged")
        return EXIT_OK
    atomic_write(path, result)
    verb = "wrote" if before is None else ("updated devenv's block in" if BEGIN in before else "added devenv's targets to")
    app.ui.info(f"{verb} {path}: make {', make '.join(TARGETS)}")
    return EXIT_OK


class Refusal:
    """Why the Makefile is left as it is, and what to do."""

    def __init__(self, message: str, fix: str) -> None:
        self.message, self.fix = message, fix

    def __repr__(self) -> str:
        return f"Refusal({self.message!r})"


def insert_block(text: str | None) -> str | Refusal:
    """The Makefile's text with devenv's block put in (appended, or replacing the old block).

    >>> insert_block(None) == block()
    True
    >>> insert_block("dev:\\n\\techo mine\\n")
    Refusal('it already defines dev outside the devenv block')
    """
    if not text:
        return block()
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    begins = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == END]
    if len(begins) > 1 or len(ends) > 1 or len(begins) != len(ends) or (begins and ends[0] < begins[0]):
        return Refusal("its devenv block markers are broken (each must appear once, begin before end)",
                       f"edit it so that one '{BEGIN}' line is followed by one '{END}' line, or remove both")
    if begins:
        head, tail = lines[:begins[0]], lines[ends[0] + 1:]
    else:
        head, tail = lines, []
    taken = sorted(set(defined_targets("".join(head + tail))) & set(TARGETS), key=list(TARGETS).index)
    if taken:
        return Refusal(f"it already defines {', '.join(taken)} outside the devenv block",
                       "rename or remove those targets, or add devenv's recipes to them by hand (`devenv makefile` prints them)")
    new = block(nl)
    if begins:
        return "".join(head) + new + "".join(tail)
    before = "".join(head)
    if not before.endswith(("\n", "\r")):
        before += nl
    return before + nl + new  # a blank line between their last line and the block


_RULE = re.compile(r"^(?P<targets>[^\t#:=][^#:=]*?)\s*::?(?![:=])")


def defined_targets(text: str) -> list[str]:
    """Targets that the Makefile's rules define (recipe lines, comments, variables and define blocks skipped).

    >>> defined_targets("X := a:b\\nall dev: deps\\n\\techo x\\ndev-%:\\n\\ttrue\\n.PHONY: dev-down\\n")
    ['all', 'dev', 'dev-%', '.PHONY']
    """
    found: list[str] = []
    in_define = False
    continued = False
    for line in text.splitlines():
        was_continued, continued = continued, line.endswith("\\")
        if was_continued:
            continue
        word = line.strip().split(maxsplit=1)[0] if line.strip() else ""
        if in_define:
            in_define = word != "endef"
            continue
        if word in ("define", "override", "export") and "define" in line.split("#", 1)[0].split():
            in_define = True
            continue
        m = _RULE.match(line)
        if m:
            found += m.group("targets").split()
    return found
