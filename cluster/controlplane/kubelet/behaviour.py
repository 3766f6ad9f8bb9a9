"""What a simulated container does once started, derived from its spec alone.

No process runs, so a container's life is read from its ``command``/``args`` (a tiny
shell interpreter: ``sleep``, ``exit``, ``true``/``false``, ``touch``/``rm``, loops and
``&&``/``||``), from what the image's default command does (the registry catalogue), and
from the ``kubeglass.io/simulate`` annotation (memory use and probe outcomes per
container). Everything is a pure function of the spec, so a replay behaves identically.
See docs/simulation.md for the model.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

SIMULATE_ANNOTATION = "kubeglass.io/simulate"
FOREVER = float("inf")
# A graceful stop of a program that handles SIGTERM takes this long.
DEFAULT_STOP_SECONDS = 0.4
# A shell builtin or one-shot utility finishes in this much sim time.
QUICK = 0.05

SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
# Shell builtins: there is no such binary, so as a container's command runc cannot exec them.
BUILTINS = frozenset({"exit", "cd", "export", "set", "trap", "source", "."})
# Utilities that do their job and exit 0 at once.
ONE_SHOT = frozenset(
    {
        "echo", "printf", "cat", "cp", "mv", "rm", "ls", "mkdir", "touch", "date", "env", "printenv",
        "chmod", "chown", "ln", "wget", "curl", "nslookup", "dig", "host", "id", "whoami", "hostname",
        "uname", "tar", "sed", "grep", "test", "[", "find", "head", "sort", "wc", "df", "du", "ps",
        "nc", "ping", "sync", "true", ":", "apk", "apt-get", "pip", "npm", "kubectl", "openssl",
        "base64", "sha256sum", "md5sum", "cut", "tr", "awk", "xargs", "tee", "basename", "dirname",
        "seq", "stat", "which", "getent", "mount", "umount", "ip", "iptables", "sysctl", "modprobe",
    }
)  # fmt: skip
INTERPRETERS = frozenset({"python", "python3", "node", "ruby", "perl", "php"})


@dataclass(frozen=True)
class Hints:
    """The per-container entry of the ``kubeglass.io/simulate`` annotation."""

    memory_mi: float | None = None
    memory_after: float = 1.0
    liveness_fail_after: float | None = None
    readiness_fail_after: float | None = None
    ready_after: float = 0.0
    startup_after: float = 0.0
    exit_after: float | None = None
    exit_code: int | None = None
    ignore_sigterm: bool | None = None
    stop_seconds: float | None = None


@dataclass(frozen=True)
class Behaviour:
    """One container run: how long it lives, how it ends, and how it answers probes."""

    runs_for: float = FOREVER
    exit_code: int = 0
    start_error: str | None = None
    memory_mi: float | None = None
    memory_after: float = 1.0
    ignores_sigterm: bool = False
    stop_seconds: float = DEFAULT_STOP_SECONDS
    hints: Hints = field(default_factory=Hints)
    # (seconds after start, path, exists): files a script creates and removes, for exec probes.
    files: tuple[tuple[float, str, bool], ...] = ()

    def file_exists(self, path: str, at: float) -> bool:
        exists = False
        for t, p, present in self.files:
            if p == path and t <= at:
                exists = present
        return exists


def parse_hints(pod: dict[str, Any], container: str) -> Hints:
    """Read one container's hints; a malformed annotation is ignored, as an unknown one would be."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(SIMULATE_ANNOTATION)
    if not raw:
        return Hints()
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return Hints()
    entry = data.get(container) if isinstance(data, dict) else None
    if not isinstance(entry, dict):
        return Hints()

    def num(key: str) -> float | None:
        value = entry.get(key)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    exit_code = entry.get("exitCode")
    ignore = entry.get("ignoreSigterm")
    return Hints(
        memory_mi=num("memoryMi"),
        memory_after=num("memoryAfter") or 1.0,
        liveness_fail_after=num("livenessFailAfter"),
        readiness_fail_after=num("readinessFailAfter"),
        ready_after=num("readyAfter") or 0.0,
        startup_after=num("startupAfter") or 0.0,
        exit_after=num("exitAfter"),
        exit_code=int(exit_code) if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
        ignore_sigterm=ignore if isinstance(ignore, bool) else None,
        stop_seconds=num("stopSeconds"),
    )


# ------------------------------------------------------------------ the interpreter
@dataclass
class _Run:
    """The state of a script being run: elapsed time, last status, and whether it has ended."""

    t: float = 0.0
    status: int = 0
    exited: bool = False
    forever: bool = False
    files: list[tuple[float, str, bool]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.exited or self.forever


def _duration(word: str) -> float | None:
    """``sleep`` operands: ``5``, ``0.5``, ``2m``, ``1h``, ``infinity``."""
    if word == "infinity":
        return FOREVER
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", word)
    if not m:
        return None
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _tokens(script: str) -> list[str]:
    lexer = shlex.shlex(script.replace("\n", " ; "), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:
        return script.split()


_KEYWORDS = {"do", "done", "then", "else", "elif", "fi", "in"}


class _Parser:
    """A recursive-descent reading of the small shell subset containers use."""

    def __init__(self, tokens: list[str]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def skip_separators(self) -> None:
        while self.peek() in (";", "&"):
            self.take()

    def block(self, stop: set[str]) -> list[Any]:
        """Statements up to (not including) one of ``stop``."""
        out: list[Any] = []
        self.skip_separators()
        while self.peek() is not None and self.peek() not in stop:
            out.append(self.and_or())
            self.skip_separators()
        return out

    def and_or(self) -> Any:
        node = self.pipeline()
        while self.peek() in ("&&", "||"):
            op = self.take()
            node = (op, node, self.pipeline())
        if self.peek() == "&":
            self.take()
            node = ("bg", node)
        return node

    def pipeline(self) -> Any:
        negate = False
        if self.peek() == "!":
            self.take()
            negate = True
        node = self.command()
        while self.peek() == "|":
            self.take()
            node = ("pipe", node, self.command())
        return ("not", node) if negate else node

    def command(self) -> Any:
        word = self.peek()
        if word in ("while", "until"):
            self.take()
            cond = self.block({"do"})
            self._expect("do")
            body = self.block({"done"})
            self._expect("done")
            return (word, cond, body)
        if word == "for":
            self.take()
            if self.peek() is not None:
                self.take()  # the loop variable
            items: list[str] = []
            if self.peek() == "in":
                self.take()
                while self.peek() not in (None, ";", "do"):
                    items.append(self.take())
            self.skip_separators()
            self._expect("do")
            body = self.block({"done"})
            self._expect("done")
            return ("for", items, body)
        if word == "if":
            self.take()
            cond = self.block({"then"})
            self._expect("then")
            then = self.block({"else", "elif", "fi"})
            other: list[Any] = []
            if self.peek() == "elif":
                self.toks[self.i] = "if"
                other = [self.command()]
                return ("if", cond, then, other)
            if self.peek() == "else":
                self.take()
                other = self.block({"fi"})
            self._expect("fi")
            return ("if", cond, then, other)
        words: list[str] = []
        while self.peek() is not None and self.peek() not in (";", "&", "&&", "||", "|"):
            if self.peek() in _KEYWORDS and words == []:
                break
            words.append(self.take())
        return ("cmd", words)

    def _expect(self, word: str) -> None:
        if self.peek() == word:
            self.take()


def _run_block(nodes: list[Any], run: _Run) -> None:
    for node in nodes:
        if run.done:
            return
        _run_node(node, run)


def _run_node(node: Any, run: _Run) -> None:
    kind = node[0]
    if kind == "cmd":
        _run_command(node[1], run)
    elif kind == "&&":
        _run_node(node[1], run)
        if not run.done and run.status == 0:
            _run_node(node[2], run)
    elif kind == "||":
        _run_node(node[1], run)
        if not run.done and run.status != 0:
            _run_node(node[2], run)
    elif kind == "not":
        _run_node(node[1], run)
        run.status = 0 if run.status else 1
    elif kind == "pipe":
        _run_node(node[1], run)
        if not run.done:
            _run_node(node[2], run)
    elif kind == "bg":
        shadow = _Run(t=run.t, files=run.files)
        _run_node(node[1], shadow)  # runs alongside; only its file changes are seen
        run.status = 0
    elif kind in ("while", "until"):
        for _ in range(100):
            _run_block(node[1], run)
            if run.done:
                return
            keep_going = (run.status == 0) if kind == "while" else (run.status != 0)
            if not keep_going:
                run.status = 0
                return
            _run_block(node[2], run)
            if run.done:
                return
            if kind == "while" and _always_true(node[1]):
                break  # the body never exits, so neither does the loop
        run.forever = True
    elif kind == "for":
        for _item in node[1]:
            _run_block(node[2], run)
            if run.done:
                return
    elif kind == "if":
        _run_block(node[1], run)
        if run.done:
            return
        _run_block(node[2] if run.status == 0 else node[3], run)


def _always_true(cond: list[Any]) -> bool:
    return len(cond) == 1 and cond[0][0] == "cmd" and cond[0][1][:1] in (["true"], [":"])


_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _run_command(words: list[str], run: _Run) -> None:
    while words and _ASSIGNMENT.match(words[0]):
        words = words[1:]
    if not words:
        return
    name = words[0].rsplit("/", 1)[-1]
    args = words[1:]
    if name == "exec" and args:
        _run_command(args, run)
        if not run.done:
            run.exited = True
        return
    if name == "exit":
        run.status = int(args[0]) if args and args[0].lstrip("-").isdigit() else run.status
        run.status &= 0xFF
        run.exited = True
        return
    if name == "sleep":
        seconds = _duration(args[0]) if args else None
        if seconds is None:
            run.status = 1
            return
        if seconds == FOREVER:
            run.forever = True
            return
        run.t += seconds
        run.status = 0
        return
    if name == "false":
        run.status = 1
        return
    if name in ("true", ":", "trap", "set", "export", "cd", "echo", "printf"):
        run.status = 0
        return
    if name == "tail" and ("-f" in args or "-F" in args):
        run.forever = True
        return
    if name == "touch":
        for path in args:
            if not path.startswith("-"):
                run.files.append((run.t, path, True))
        run.status = 0
        return
    if name == "rm":
        for path in args:
            if not path.startswith("-"):
                run.files.append((run.t, path, False))
        run.status = 0
        return
    if name in SHELLS:
        if "-c" in args and args.index("-c") + 1 < len(args):
            _run_block(_Parser(_tokens(args[args.index("-c") + 1])).block(set()), run)
            return
        run.status = 0
        return
    if name in INTERPRETERS:
        if any(a in ("-c", "-e", "--version", "-V") for a in args):
            run.t += QUICK
            run.status = 0
        else:
            run.forever = True
        return
    if name in ONE_SHOT:
        run.t += QUICK
        run.status = 0
        return
    # Anything else is taken to be a long-running program (a server, a daemon).
    run.forever = True


def run_script(script: str) -> _Run:
    run = _Run()
    _run_block(_Parser(_tokens(script)).block(set()), run)
    return run


# ------------------------------------------------------------------ the container
def _image_default(image_info: dict[str, Any], container: dict[str, Any]) -> tuple[float, int, bool]:
    """(runs_for, exit_code, ignores_sigterm) of an image's default command."""
    run = str(image_info.get("run") or "server")
    if run == "shell":
        # A shell or REPL with no terminal reads end-of-file and exits at once.
        if container.get("stdin"):
            return FOREVER, 0, True
        return QUICK, 0, False
    if run.startswith("exits"):
        code = int(run.split(":", 1)[1]) if ":" in run else 0
        return QUICK, code, False
    env = {e.get("name") for e in container.get("env") or [] if isinstance(e, dict)}
    for alternatives in image_info.get("requiresEnv") or []:
        names = [alternatives] if isinstance(alternatives, str) else list(alternatives)
        if not env.intersection(names):
            return QUICK, 1, False
    return FOREVER, 0, False


def _pid1(argv: list[str]) -> str:
    """The program that ends up as PID 1: a shell given one simple command execs it."""
    name = argv[0].rsplit("/", 1)[-1]
    if name in SHELLS and "-c" in argv[1:]:
        idx = argv.index("-c") + 1
        if idx < len(argv):
            nodes = _Parser(_tokens(argv[idx])).block(set())
            if len(nodes) == 1 and nodes[0][0] == "cmd" and nodes[0][1]:
                inner = nodes[0][1]
                return _pid1(inner[1:] if inner[0] == "exec" and len(inner) > 1 else inner)
    return name


def derive(pod: dict[str, Any], container: dict[str, Any], image_info: dict[str, Any] | None) -> Behaviour:
    """The behaviour of ``container`` in ``pod``: its command, its image's default, then the hints.

    As with a real runtime, ``command`` replaces the image's ENTRYPOINT and ``args`` its CMD;
    most images' entrypoints run their arguments, so ``args`` alone are run as the command
    unless the catalogue says the image's entrypoint is a program that takes options.
    """
    info = image_info or {}
    hints = parse_hints(pod, str(container.get("name", "")))
    command = [str(c) for c in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    if command:
        argv = command + args
    elif args and not info.get("entrypoint"):
        argv = args
    else:
        argv = []
    runs_for: float
    exit_code = 0
    ignores = False
    start_error: str | None = None
    files: tuple[tuple[float, str, bool], ...] = ()
    if not argv:
        runs_for, exit_code, ignores = _image_default(info, container)
    elif argv[0].rsplit("/", 1)[-1] in BUILTINS or " " in argv[0]:
        start_error = (
            "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
            "runc create failed: unable to start container process: error during container init: "
            f'exec: "{argv[0]}": executable file not found in $PATH: unknown'
        )
        runs_for, exit_code = 0.0, 128
    else:
        run = _Run()
        _run_command(argv, run)
        files = tuple(run.files)
        if run.forever:
            runs_for, exit_code = FOREVER, 0
        else:
            runs_for, exit_code = max(run.t, QUICK), run.status
        # PID 1 gets no default signal handlers: a shell, sleep or tail ignores SIGTERM.
        pid1 = _pid1(argv)
        ignores = pid1 in SHELLS or pid1 in ("sleep", "tail") or pid1 in ONE_SHOT
    if hints.exit_after is not None:
        runs_for = hints.exit_after
        exit_code = hints.exit_code if hints.exit_code is not None else 0
    elif hints.exit_code is not None and runs_for != FOREVER:
        exit_code = hints.exit_code
    if hints.ignore_sigterm is not None:
        ignores = hints.ignore_sigterm
    return Behaviour(
        runs_for=runs_for,
        exit_code=exit_code,
        start_error=start_error,
        memory_mi=hints.memory_mi,
        memory_after=hints.memory_after,
        ignores_sigterm=ignores,
        stop_seconds=hints.stop_seconds if hints.stop_seconds is not None else DEFAULT_STOP_SECONDS,
        hints=hints,
        files=files,
    )
