"""Start `classbridge` processes for tests without paying for their imports each time.

A process of the suite spends 1 to 3 s of CPU importing strawberry, SQLAlchemy, pydantic,
uvicorn and classbridge before it does anything, and the suite starts a few hundred of
them: that was most of the suite's CPU. So each pytest worker starts one *zygote* (the
pattern of Android's zygote and Rails' spring preloader): a Python process that imports
the CLI's modules once, then waits on a Unix socket. For every `classbridge …` the tests
start, it forks; the fork gets the test's argv, environment, working directory and
stdin/stdout/stderr (passed as file descriptors), and runs `classbridge.cli.main` — the same
code the console script runs. What the tests talk to is still a real process of its own,
with its own pid, signals and exit status, over real HTTP, Redis and databases.

Where the imports themselves depend on the environment (PROMETHEUS_MULTIPROC_DIR is read
when prometheus_client is imported; classbridge.jobs.worker reads the settings at import,
so the zygote does not import it), or the command is not classbridge's CLI, `spawn` and
friends start the program the ordinary way. tests/test_packaging.py and the deploy tests
still run the installed console script itself.

Protocol (one connection per process): the client sends a 4-byte big-endian length and a
JSON object {argv, env, cwd}, with the child's fds 0, 1 and 2 attached (SCM_RIGHTS). The
zygote forks a supervisor, which forks the process, answers "pid N\\n", waits for it and
answers "exit CODE\\n" (CODE as `subprocess.Popen.returncode`: -N for signal N).
"""

import asyncio
import atexit
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import IO, Any

CLASSBRIDGE = str(Path(sys.executable).parent / "classbridge")

# What the fork inherits already imported: what `serve`, `migrate`, `seed-demo`,
# `simulate-aggregator`, `reconcile` and the token and account commands import.
PRELOAD = (
    "classbridge.cli",
    "classbridge.graph.app",
    "classbridge.migrate",
    "classbridge.demo",
    "classbridge.simulator",
    "classbridge.jobs.push",
    "classbridge.jobs.reconcile",
    "classbridge.jobs.client",
    "classbridge.ops.logs",
    "classbridge.ops.gc_tuning",
    "alembic.command",
    "arq.worker",
    "uvicorn",
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.websockets.auto",
    "uvicorn.lifespan.on",
)

# Environment variables read when a module is imported: a process that sets one of these
# differently from the zygote is started the ordinary way.
READ_AT_IMPORT = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")


# --- the zygote process ---------------------------------------------------------------


def _serve(path: str) -> None:
    import importlib

    for module in PRELOAD:
        importlib.import_module(module)
    from classbridge.settings import get_settings

    # Nothing imported may have read the settings or fixed anything from the environment.
    assert get_settings.cache_info().currsize == 0, "a preloaded module read the settings"
    assert "classbridge.jobs.worker" not in sys.modules, "jobs.worker reads settings at import"

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        # Our stdin is a pipe from the pytest worker: at its end (the worker exited, even
        # by SIGKILL) the zygote ends too.
        readable, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in readable and not os.read(sys.stdin.fileno(), 1):
            return
        if listener not in readable:
            continue
        conn, _ = listener.accept()
        try:
            request, fds = _receive(conn)
        except (OSError, ValueError):
            conn.close()
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() == 0:
            listener.close()
            _supervise(conn, request, fds)  # never returns
        conn.close()
        for fd in fds:
            os.close(fd)


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    if len(data) < 4 or len(fds) != 3:
        raise ValueError("bad request")
    (length,) = struct.unpack(">I", data[:4])
    body = bytearray(data[4:])
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            raise ValueError("short request")
        body += chunk
    return json.loads(body), fds


def _supervise(conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        conn.close()
        _run(request, fds)  # never returns
    for fd in fds:
        os.close(fd)
    try:
        conn.sendall(f"pid {pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
    finally:
        os._exit(0)


def _run(request: dict[str, Any], fds: list[int]) -> None:
    """In the process itself: become `classbridge ARGS` as the client asked."""
    code: int = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in set(fds):
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])
        from classbridge.cli import main

        try:
            main(sys.argv[1:])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except KeyboardInterrupt:
            code = 130
        except BaseException:
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


# --- the client, in the test process ----------------------------------------------------


class Zygote:
    """This process's zygote, started on first use and ended at exit."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="cb-zygote-")
        self.path = os.path.join(self._dir, "zygote.sock")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSBRIDGE_")}
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.zygote", self.path],
            env=env,
            cwd=Path(__file__).resolve().parents[1],
            stdin=subprocess.PIPE,  # closed when this process ends: the zygote ends too
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line != b"ready\n":
            self.process.kill()
            raise RuntimeError(f"the test zygote did not start: {line!r}")
        atexit.register(self.close)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        try:
            os.unlink(self.path)
            os.rmdir(self._dir)
        except OSError:
            pass

    def fork(self, argv: list[str], env: dict[str, str], cwd: str, fds: list[int]) -> "Forked":
        body = json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
            message = struct.pack(">I", len(body)) + body
            sent = socket.send_fds(sock, [message], fds)
            sock.sendall(message[sent:])
            forked = Forked(sock)
        except BaseException:
            sock.close()
            raise
        return forked


_zygote: Zygote | None = None
_starting = threading.Lock()


def _the_zygote() -> Zygote:
    global _zygote
    with _starting:
        if _zygote is None or _zygote.process.poll() is not None:
            _zygote = Zygote()
        return _zygote


def _cli_argv(argv: list[str]) -> list[str] | None:
    """`sys.argv` of a `classbridge` command line (the console script's, or
    `python -m classbridge.cli`'s), or None for any other program."""
    if argv[:1] == [CLASSBRIDGE]:
        return argv
    if argv[:3] == [sys.executable, "-m", "classbridge.cli"]:
        import classbridge.cli

        return [classbridge.cli.__file__, *argv[3:]]
    return None


def can_fork(argv: list[str], env: dict[str, str]) -> bool:
    if os.environ.get("CLASSBRIDGE_TEST_ZYGOTE", "1") == "0" or _cli_argv(argv) is None:
        return False
    zygote_env = _zygote.env if _zygote else os.environ
    return all(env.get(name) == zygote_env.get(name) for name in READ_AT_IMPORT) and all(
        env.get(name) == zygote_env.get(name) for name in env if name.startswith("PYTHON")
    )


class Forked:
    """A forked process, with the parts of `subprocess.Popen` the tests use."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        self.returncode: int | None = None
        self.pid = int(self._line(block=True).removeprefix("pid "))

    def _line(self, *, block: bool, timeout: float | None = None) -> str:
        while b"\n" not in self._buffer:
            if not block or timeout is not None:
                ready, _, _ = select.select([self._sock], [], [], 0 if not block else timeout)
                if not ready:
                    return ""
            chunk = self._sock.recv(64)
            if not chunk:
                raise RuntimeError("the test zygote's supervisor went away")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def _exited(self, line: str) -> int | None:
        if line:
            self.returncode = int(line.removeprefix("exit "))
            self._sock.close()
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None:
            self._exited(self._line(block=False))
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if self._exited(self._line(block=True, timeout=timeout)) is None:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
        assert self.returncode is not None
        return self.returncode

    async def wait_async(self) -> int:
        if self.returncode is not None:
            return self.returncode
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        fd = self._sock.fileno()

        def readable() -> None:
            if not done.done():
                done.set_result(None)

        while self.poll() is None:
            loop.add_reader(fd, readable)
            try:
                await done
            finally:
                loop.remove_reader(fd)
            done = loop.create_future()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class AsyncForked:
    """A forked process with the parts of `asyncio.subprocess.Process` the tests use."""

    def __init__(
        self,
        forked: Forked,
        stdout: asyncio.StreamReader | None,
        stderr: asyncio.StreamReader | None,
    ) -> None:
        self._forked = forked
        self.pid = forked.pid
        self.stdout = stdout
        self.stderr = stderr

    @property
    def returncode(self) -> int | None:
        return self._forked.poll()

    async def wait(self) -> int:
        return await self._forked.wait_async()

    async def communicate(self) -> tuple[bytes, bytes]:
        async def read(stream: asyncio.StreamReader | None) -> bytes:
            return await stream.read() if stream is not None else b""

        out, err = await asyncio.gather(read(self.stdout), read(self.stderr))
        await self.wait()
        return out, err

    def send_signal(self, sig: int) -> None:
        self._forked.send_signal(sig)

    def terminate(self) -> None:
        self._forked.terminate()

    def kill(self) -> None:
        self._forked.kill()


PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT


def _child_fd(spec: int | IO[Any] | None, opened: list[int]) -> tuple[int, int | None]:
    """(fd for the child, read end for us or None) for a Popen-style stdin/stdout/stderr."""
    if spec is None:
        return -1, None  # inherit ours: filled in by the caller
    if spec == DEVNULL:
        fd = os.open(os.devnull, os.O_RDWR)
        opened.append(fd)
        return fd, None
    if spec == PIPE:
        read, write = os.pipe()
        opened.append(write)
        return write, read
    if isinstance(spec, int):
        return spec, None
    return spec.fileno(), None


def _fork(
    argv: list[str],
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None,
    stdin: int | IO[Any] | None,
    stdout: int | IO[Any] | None,
    stderr: int | IO[Any] | None,
) -> tuple[Forked, int | None, int | None]:
    opened: list[int] = []
    try:
        fd_in, _ = _child_fd(stdin if stdin != PIPE else DEVNULL, opened)
        fd_out, read_out = _child_fd(stdout, opened)
        if stderr == STDOUT:
            fd_err, read_err = fd_out, None
        else:
            fd_err, read_err = _child_fd(stderr, opened)
        fds = [
            fd if fd >= 0 else std
            for fd, std in zip((fd_in, fd_out, fd_err), (0, 1, 2), strict=True)
        ]
        cli_argv = _cli_argv(argv)
        assert cli_argv is not None
        forked = _the_zygote().fork(cli_argv, env, str(cwd or os.getcwd()), fds)
    finally:
        for fd in opened:
            os.close(fd)
    return forked, read_out, read_err


def popen(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None = None,
    stdin: int | IO[Any] | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
) -> "Forked | subprocess.Popen[bytes]":
    """`subprocess.Popen(argv, …)`, forked from the zygote where it can be (no PIPEs)."""
    if not can_fork(argv, env) or PIPE in (stdout, stderr):
        return subprocess.Popen(argv, env=env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr)
    forked, _, _ = _fork(argv, env, cwd, stdin, stdout, stderr)
    return forked


def run(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(argv, capture_output=True, text=True, timeout=…)`."""
    if not can_fork(argv, env):
        return subprocess.run(
            argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        forked, _, _ = _fork(argv, env, cwd, DEVNULL, out, err)
        try:
            forked.wait(timeout)
        except subprocess.TimeoutExpired:
            forked.kill()
            forked.wait()
            raise
        out.seek(0)
        err.seek(0)
        code = forked.returncode
        assert code is not None
        return subprocess.CompletedProcess(
            argv, code, out.read().decode(errors="replace"), err.read().decode(errors="replace")
        )


async def _reader(fd: int | None) -> asyncio.StreamReader | None:
    if fd is None:
        return None
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    return reader


async def create_process(
    *argv: str,
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None = None,
    stdin: int | None = DEVNULL,
    stdout: int | None = PIPE,
    stderr: int | None = PIPE,
) -> "AsyncForked | asyncio.subprocess.Process":
    """`asyncio.create_subprocess_exec(*argv, …)`, forked from the zygote where it can be."""
    args = list(argv)
    if not can_fork(args, env):
        return await asyncio.create_subprocess_exec(
            *args, env=env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr
        )
    forked, read_out, read_err = await asyncio.to_thread(
        _fork, args, env, cwd, stdin, stdout, stderr
    )
    return AsyncForked(forked, await _reader(read_out), await _reader(read_err))


if __name__ == "__main__":
    _serve(sys.argv[1])
