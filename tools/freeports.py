#!/usr/bin/env python3
"""Free TCP ports for a server a test or bench starts: as a command, freeports.py [N [GIVEN_FILE]]
(N distinct ports on one line); as a module, free_ports(n, given_file=None).

A port is taken below the kernel's ephemeral range (net.ipv4.ip_local_port_range), where connect()
never binds one on its own. A port the kernel hands out from bind(("127.0.0.1", 0)) is in that
range: between the picking and the server's own bind, any outgoing connection of the busy host
may take it as its source port (a CI run lost nginx's listener so, "bind() to 127.0.0.1:43299
failed (98: Address already in use)", after a run of proxies had made thousands of connections).

Each port is checked free now on 0.0.0.0 and on ::, and is never one this process was given
before nor, with @given_file, one written there (its ports are appended to it): two calls of one
test never get the same one.
"""

import errno
import random
import socket
import sys

LOW = 20000  # below: ports people give services by hand (8080, 9090, 15000-15100, ...)
_given = set()  # this process's


def ephemeral_start():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def bindable(port):
    for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, port))
        except OSError as e:
            if e.errno == errno.EAFNOSUPPORT:
                continue
            return False
        finally:
            s.close()
    return True


def free_ports(n, given_file=None):
    given = set(_given)
    if given_file:
        try:
            with open(given_file) as f:
                given |= {int(p) for p in f.read().split()}
        except (OSError, ValueError):
            pass
    hi = ephemeral_start()
    lo = LOW if hi - LOW >= 1000 else 1024
    candidates = [p for p in range(lo, hi) if p not in given]
    random.shuffle(candidates)
    out = []
    for p in candidates:
        if bindable(p):
            out.append(p)
            if len(out) == n:
                break
    if len(out) < n:
        raise SystemExit("freeports: only %d of %d ports free in %d-%d" % (len(out), n, lo, hi - 1))
    _given.update(out)
    if given_file:
        with open(given_file, "a") as f:
            f.write("".join("%d\n" % p for p in out))
    return out


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    given_file = sys.argv[2] if len(sys.argv) > 2 else None
    print(" ".join(str(p) for p in free_ports(n, given_file)))


if __name__ == "__main__":
    main()
