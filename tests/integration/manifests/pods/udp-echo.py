#!/usr/bin/python3
# UDP echo for the tests of UDP Services, both ends:
#   udp-echo.py serve PORT       answers each datagram with one line:
#                                "pod=NS/NAME from=IP:PORT got=PAYLOAD" (an IPv4 client by its
#                                IPv4, not ::ffff:; [IPv6]:PORT); on both families where the pod has IPv6
#   udp-echo.py ask HOST PORT N  sends N datagrams from one unconnected socket, each with
#                                sendto(HOST), and prints per answer "src=IP:PORT LINE" (the
#                                source recvfrom() gives) or "timeout"
#   udp-echo.py spray HOST PORT N
#                                N sockets (N source ports), one datagram each, one after the
#                                other; prints "answered=K" (those that got an answer)
#   udp-echo.py big HOST PORT SIZE [first]
#                                one datagram of SIZE bytes, after a small one on the same socket
#                                (or as the socket's first: "first"); prints "src=IP:PORT
#                                from=IP:PORT size=N intact=True|False" of its answer (N: the
#                                payload echoed) or "timeout"
#   udp-echo.py connected HOST PORT
#                                connect()s, prints "peer=IP:PORT" (getpeername), sends one and
#                                prints its answer as ask does
import os
import socket
import sys


def addr(a):
    """IP:PORT, an IPv6 address in brackets ([IP]:PORT), an IPv4 client by its IPv4."""
    ip = a[0]
    if ip.startswith("::ffff:") and "." in ip:
        ip = ip[len("::ffff:"):]
    return ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, a[1])


def serve(port):
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
    except OSError:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
    me = "%s/%s" % (os.environ.get("POD_NAMESPACE", "?"), os.environ.get("POD_NAME", "?"))
    while True:
        data, peer = s.recvfrom(65535)
        line = "pod=%s from=%s got=%s" % (me, addr(peer), data.decode(errors="replace"))
        s.sendto(line.encode(), peer)


def target(host, port):
    return socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]


def answer(s):
    try:
        data, src = s.recvfrom(65535)
        print("src=%s %s" % (addr(src), data.decode(errors="replace")))
    except socket.timeout:
        print("timeout")


def ask(host, port, n):
    fam, _, _, _, sa = target(host, port)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(2)
    for i in range(n):
        s.sendto(("d%d" % i).encode(), sa)
        answer(s)


def spray(host, port, n):
    fam, _, _, _, sa = target(host, port)
    answered = 0
    for i in range(n):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(("s%d" % i).encode(), sa)
        try:
            s.recvfrom(65535)
            answered += 1
        except socket.timeout:
            pass
        s.close()
    print("answered=%d" % answered)


def big(host, port, size, first=False):
    fam, _, _, _, sa = target(host, port)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(3)
    payload = b"b" + b"x" * (size - 1)
    if not first:
        s.sendto(b"p", sa)
        try:
            s.recvfrom(65535)
        except socket.timeout:
            print("timeout")
            return
    s.sendto(payload, sa)
    try:
        data, src = s.recvfrom(65535)
    except socket.timeout:
        print("timeout")
        return
    head, _, got = data.partition(b" got=")
    frm = head.split(b" from=", 1)[-1].decode(errors="replace")
    print("src=%s from=%s size=%d intact=%s" % (addr(src), frm, len(got), got == payload))


def connected(host, port):
    fam, _, _, _, sa = target(host, port)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect(sa)
    print("peer=%s" % addr(s.getpeername()))
    s.send(b"c")
    answer(s)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(int(sys.argv[2]))
    elif cmd == "ask":
        ask(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "big":
        big(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:] == ["first"])
    elif cmd == "spray":
        spray(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        connected(sys.argv[2], int(sys.argv[3]))
