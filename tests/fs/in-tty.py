#!/usr/bin/env python3
"""in-tty.py COMMAND [INPUT [AFTER]]: runs the shell command COMMAND on a
terminal of its own (a pseudo-terminal whose session leader it is, as a
login shell is), types INPUT into it (once the terminal has shown AFTER, if
given), and prints everything the terminal shows; exits with the command's
status.

Unlike script(1) with no input, it never sends the terminal an end of file:
script's EOF, typed into a terminal that execlog-run has put in raw mode,
arrives as a NUL byte that the command's terminal echoes as ^@.
"""
import os
import pty
import sys

pid, fd = pty.fork()
if pid == 0:
    os.execvp("sh", ["sh", "-c", sys.argv[1]])
typed = len(sys.argv) < 3
shown = b""
if len(sys.argv) == 3:
    os.write(fd, sys.argv[2].encode())
    typed = True
while True:
    try:
        data = os.read(fd, 65536)
    except OSError:  # EIO: the terminal's last user has closed it
        break
    if not data:
        break
    sys.stdout.buffer.write(data)
    shown += data
    if not typed and sys.argv[3].encode() in shown:
        os.write(fd, sys.argv[2].encode())
        typed = True
sys.stdout.buffer.flush()
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
