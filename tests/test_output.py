"""cimest.output: only regular files are written, atomically; failures are user errors that keep
the old file; temporary files of dead writers are removed. Behaviour about processes (a file-size
limit, kill -9) is tested on real processes."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cimest import output
from cimest.errors import OutputFileError

ROOT = Path(__file__).resolve().parents[1]
BSL_TOY = ROOT / "tests" / "fixtures" / "bsl_toy.yaml"
TOY_LIBS = ROOT / "tests" / "fixtures" / "libraries"


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(output.TEMP_PREFIX))


@pytest.fixture(autouse=True)
def fresh_cleaning(monkeypatch):
    """Each test starts as a new process would: no folder cleaned yet."""
    monkeypatch.setattr(output, "_cleaned", set())


# --- what is written where ----------------------------------------------------------------------


def test_a_new_file_and_a_replaced_file_keep_their_mode(tmp_path):
    f = tmp_path / "out.json"
    output.write_json(f, {"a": 1})
    assert json.loads(f.read_text()) == {"a": 1}
    f.chmod(0o640)
    output.write_atomic(f, "second\n")
    assert f.read_text() == "second\n"
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    assert temporaries(tmp_path) == []


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_device_is_refused_and_left_alone():
    before = os.stat("/dev/null")
    with pytest.raises(
        OutputFileError, match="/dev/null: is a character device, expected a file path"
    ):
        output.write_atomic("/dev/null", "x")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


@pytest.mark.skipif(
    not os.path.islink("/dev/stdout"), reason="needs /dev/stdout as a link into /proc"
)
def test_dev_stdout_is_refused_even_when_stdout_is_a_regular_file(tmp_path):
    # A child whose stdout is a regular file: /dev/stdout resolves to that file, and replacing it
    # would lose what the command prints after the write.
    out = tmp_path / "printed.txt"
    code = "from cimest.output import write_atomic; print('before', flush=True); write_atomic('/dev/stdout', 'json')"
    with open(out, "wb") as f:
        p = subprocess.run(
            [sys.executable, "-c", code],
            stdout=f,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    assert p.returncode != 0
    assert "/dev/stdout: is a link to /proc/self/fd/1, a special file" in p.stderr
    assert out.read_text() == "before\n"


def test_a_fifo_a_socket_and_a_directory_are_refused(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(
        OutputFileError, match="fifo.json: is a FIFO \\(named pipe\\), expected a file path"
    ):
        output.write_atomic(fifo, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    sock = tmp_path / "s.json"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock))
        with pytest.raises(OutputFileError, match="s.json: is a socket"):
            output.write_atomic(sock, "x")
    with pytest.raises(OutputFileError, match="is a directory, expected a file path"):
        output.write_atomic(tmp_path, "x")
    assert temporaries(tmp_path) == []


def test_a_symlink_is_written_through_to_its_target(tmp_path):
    target = tmp_path / "real" / "result.json"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "link.json"
    link.symlink_to(Path("real") / "result.json")
    output.write_atomic(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == str(Path("real") / "result.json")
    assert target.read_text() == "new\n"
    assert temporaries(tmp_path / "real") == [] and temporaries(tmp_path) == []


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to("made.json")
    output.write_atomic(link, "new\n")
    assert link.is_symlink() and (tmp_path / "made.json").read_text() == "new\n"


def test_a_symlink_to_a_fifo_is_refused(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link.json").symlink_to("fifo")
    with pytest.raises(OutputFileError, match="link.json: is a link to .*fifo, which is a FIFO"):
        output.write_atomic(tmp_path / "link.json", "x")


def test_the_longest_legal_file_name_is_written(tmp_path):
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    name = "r" * (name_max - 5) + ".json"  # 255 bytes on most file systems
    output.write_atomic(tmp_path / name, "{}\n")
    assert (tmp_path / name).read_text() == "{}\n"


def test_too_long_names_and_paths_are_explained(tmp_path):
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    with pytest.raises(
        OutputFileError, match=f"file name is {name_max + 1} bytes; the limit is {name_max}"
    ):
        output.write_atomic(tmp_path / ("n" * (name_max - 4) + ".json"), "x")
    deep = tmp_path.joinpath(*(["d" * 100] * 45), "x.json")
    with pytest.raises(OutputFileError, match="bytes; the limit is") as err:
        output.write_atomic(deep, "x")
    assert "path is" in str(err.value) and len(str(err.value)) < 400


def test_a_path_through_a_file_is_explained(tmp_path):
    (tmp_path / "plain").write_text("a file\n")
    with pytest.raises(OutputFileError, match="plain.*cannot"):
        output.write_atomic(tmp_path / "plain" / "x.json", "x")


def test_text_that_utf8_cannot_hold_is_escaped(tmp_path):
    # A path that is not UTF-8 arrives as a lone surrogate; the report must still be written.
    name = os.fsdecode(b"arch\xff.yaml")
    output.write_atomic(tmp_path / "r.html", f"<p>{name}</p>\n")
    assert (tmp_path / "r.html").read_bytes() == b"<p>arch\\udcff.yaml</p>\n"


# --- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EDQUOT])
def test_a_full_disk_is_a_user_error_that_keeps_the_old_file(tmp_path, monkeypatch, code):
    f = tmp_path / "result.json"
    f.write_text("old\n")

    def full(fd, data):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OutputFileError) as err:
        output.write_atomic(f, "new\n")
    assert str(err.value).startswith(f"no space left writing {f} (")
    assert str(err.value).endswith("the old file is unchanged")
    assert f.read_text() == "old\n" and temporaries(tmp_path) == []


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_a_file_size_limit_through_the_cli_exits_2_and_keeps_the_old_file(tmp_path):
    """A real process under RLIMIT_FSIZE (ulimit -f): the JSON (about 25 kB) cannot be written."""
    out = tmp_path / "e.json"
    out.write_text('{"old": true}\n')
    env = {**os.environ, "CIMEST_LIBRARY_PATH": str(TOY_LIBS), "PYTHONDONTWRITEBYTECODE": "1"}
    p = subprocess.run(
        [sys.executable, "-m", "cimest.cli", "estimate", str(BSL_TOY), "--json", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_file_size,
    )
    assert p.returncode == 2, p.stderr
    assert f"no space left writing {out} (File too large); the old file is unchanged" in p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    assert out.read_text() == '{"old": true}\n'
    assert temporaries(tmp_path) == []


# --- temporary files of dead writers ----------------------------------------------------------------

_WRITER = """
import os, sys, time
from cimest import output
real_fsync = os.fsync
def stall(fd):
    print("writing", flush=True)
    time.sleep(600)
os.fsync = stall
output.write_atomic(sys.argv[1], "half")
"""


def _start_writer(target: Path) -> subprocess.Popen:
    p = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(target)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert p.stdout.readline() == "writing\n"  # the temporary file exists and is locked
    return p


def _age(folder: Path, seconds: float) -> None:
    for name in temporaries(folder):
        t = time.time() - seconds
        os.utime(folder / name, (t, t))


def test_a_temporary_left_by_kill_9_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old\n")
    p = _start_writer(target)
    p.send_signal(signal.SIGKILL)
    p.wait()
    left = temporaries(tmp_path)
    assert len(left) == 1 and target.read_text() == "old\n"
    _age(tmp_path, output.STALE_AFTER_S + 1)
    output.write_atomic(tmp_path / "other.json", "x")
    assert temporaries(tmp_path) == []


def test_a_live_writers_temporary_is_kept_and_a_fresh_stray_waits(tmp_path):
    target = tmp_path / "result.json"
    p = _start_writer(target)
    try:
        _age(tmp_path, output.STALE_AFTER_S + 1)  # old, but its writer still holds the lock
        output.write_atomic(tmp_path / "other.json", "x")
        assert len(temporaries(tmp_path)) == 1
    finally:
        p.kill()
        p.wait()
    # dead now, but younger than STALE_AFTER_S: it may be a writer that has not locked it yet
    (tmp_path / temporaries(tmp_path)[0]).touch()
    output._cleaned.clear()
    output.write_atomic(tmp_path / "other.json", "y")
    assert len(temporaries(tmp_path)) == 1


# --- the console -------------------------------------------------------------------------------------

_PRINT_MM2 = (
    "import sys; from cimest.output import make_console_safe; {call}; "
    "print('0.124 mm\\u00b2'); print('done', file=sys.stderr)"
)  # ASCII source: argv is ASCII too


@pytest.mark.parametrize(
    "call, code, printed",
    [
        ("pass", 1, b""),  # without it, an ASCII-only console cannot print the unit
        ("make_console_safe()", 0, b"0.124 mm\\xb2\n"),
    ],
)
def test_an_ascii_only_locale_prints_units_as_escapes(call, code, printed):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "LANG", "LC_CTYPE")}
    env.update(LC_ALL="C", PYTHONUTF8="0")  # PYTHONUTF8=0: no UTF-8 mode to rescue the C locale
    p = subprocess.run(
        [sys.executable, "-c", _PRINT_MM2.format(call=call)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert p.returncode == code, p.stderr
    assert p.stdout == printed
    assert (b"UnicodeEncodeError: 'ascii' codec can't encode character '\\xb2'" in p.stderr) == (
        code == 1
    )
