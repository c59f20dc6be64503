#!/usr/bin/env python3
"""Runs a command on a new pseudo-terminal of ROWS x COLS, as a user's terminal
would, and copies what it prints to stdout; exits with the command's code.
Usage: pty-run.py ROWS COLS TIMEOUT_SECONDS COMMAND [ARG...]"""
import fcntl, os, pty, select, signal, struct, sys, termios, time

rows, cols, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[4], sys.argv[4:])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
deadline = time.time() + timeout
out = b""
while True:
    left = deadline - time.time()
    if left <= 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.stdout.write(out.decode(errors="replace"))
        sys.stderr.write("pty-run: timed out\n")
        sys.exit(124)
    r, _, _ = select.select([fd], [], [], min(left, 0.2))
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            break
        out += data
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
