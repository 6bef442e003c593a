#!/usr/bin/env python3
"""Runs one file-system call and prints OK (and any result) or the errno name.

Usage: fsop.py OP PATH [ARG...]. Shell tools hide errnos behind messages;
this gives tests the exact errno, e.g. `fsop open new/x wc` -> EEXIST.
"""
import errno
import os
import sys

FLAGS = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR, "c": os.O_CREAT,
         "x": os.O_EXCL, "t": os.O_TRUNC, "a": os.O_APPEND}


def flags(spec):
    f = 0
    for part in spec.split(","):
        f |= FLAGS[part]
    return f


def main(op, path, *args):
    if op == "open":  # open PATH FLAGS [DATA...]: each DATA is one write(2)
        fd = os.open(path, flags(args[0]) if args else os.O_RDONLY, 0o644)
        try:
            for data in args[1:]:
                os.write(fd, data.encode("utf-8", "surrogateescape"))
        finally:
            os.close(fd)
    elif op == "write":  # write PATH DATA: one write(2) of DATA to an existing file
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, args[0].encode("utf-8", "surrogateescape"))
        finally:
            os.close(fd)
    elif op == "writebytes":  # writebytes PATH HEX: one write(2) of raw bytes
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.write(fd, bytes.fromhex(args[0]))
        finally:
            os.close(fd)
    elif op == "writesize":  # writesize PATH N FLAGS: one write(2) of N spaces
        fd = os.open(path, flags(args[1]) if len(args) > 1 else os.O_WRONLY, 0o644)
        try:
            os.write(fd, b" " * int(args[0]))
        finally:
            os.close(fd)
    elif op == "mkdir":
        os.mkdir(path)
    elif op == "rmdir":
        os.rmdir(path)
    elif op == "unlink":
        os.unlink(path)
    elif op == "rename":
        os.rename(path, args[0])
    elif op == "link":
        os.link(path, args[0])
    elif op == "symlink":
        os.symlink(args[0], path)
    elif op == "mknod":
        os.mknod(path, 0o644 | 0o010000)  # a FIFO
    elif op == "chmod":
        os.chmod(path, int(args[0], 8))
    elif op == "chown":
        os.chown(path, int(args[0]), int(args[1]))
    elif op == "truncate":
        os.truncate(path, int(args[0]))
    elif op == "utime":
        os.utime(path, None)
    elif op == "setxattr":
        os.setxattr(path, "user.test", b"x")
    elif op == "removexattr":
        os.removexattr(path, "user.test")
    elif op == "stat":
        print(os.stat(path).st_size)
    elif op == "lookup":
        os.lstat(path)
    else:
        sys.exit("fsop: unknown op " + op)
    print("OK")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:])
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
