#!/usr/bin/env python3
"""t_18's server pod: HTTP on 8080 answering who it is, the path and the caller's address; on
9000 the sha256 of everything a connection sends, once it has sent its last byte (its half-close);
on [::1]:7000 alone, "v6 ok" (a port the pod's IPv4 localhost refuses). One asyncio loop, so a
flood of held connections costs it no thread each."""
import asyncio
import hashlib
import os
import resource
import socket

POD = f"{os.environ.get('POD_NAMESPACE', '?')}/{os.environ.get('POD_NAME', '?')}"


async def http(reader, writer):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode("latin-1")
        peer = writer.get_extra_info("peername")[0]
        body = f"pod={POD} path={path} from={peer}\n".encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, IndexError):
        pass
    writer.close()


async def digest(reader, writer):
    h = hashlib.sha256()
    try:
        while chunk := await reader.read(65536):
            h.update(chunk)
        writer.write(h.hexdigest().encode() + b"\n")
        await writer.drain()
    except ConnectionError:
        pass
    writer.close()


async def v6(reader, writer):
    writer.write(b"v6 ok\n")
    await writer.drain()
    writer.close()


async def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    await asyncio.start_server(http, "0.0.0.0", 8080, backlog=4096)
    await asyncio.start_server(digest, "0.0.0.0", 9000, backlog=4096)
    try:
        await asyncio.start_server(v6, "::1", 7000, family=socket.AF_INET6)
    except OSError:  # no IPv6 in the pod's netns: t_18 skips that case
        pass
    await asyncio.Event().wait()


asyncio.run(main())
