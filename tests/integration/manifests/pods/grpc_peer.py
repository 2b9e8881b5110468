#!/usr/bin/python3
# A tiny gRPC server and client for the waypoint's tests (t_88), on Debian's python3-grpcio and
# the standard library only: generic handlers with raw bytes (no protoc, no generated code).
#   grpc_peer.py serve ADDR:PORT NAME        serves demo.Echo/Hello (unary: "NAME:<request>",
#                                            each call logged "call Hello <request>")
#                                            and demo.Echo/Count (server streaming: N messages)
#   grpc_peer.py hello TARGET AUTHORITY MSG [KEY=VALUE...]   prints the reply, or the status name
#   grpc_peer.py count TARGET AUTHORITY N [KEY=VALUE...]    prints each streamed reply on its own line
import os
import sys
from concurrent import futures

# Names through the C library (the local cluster's pods resolve Services from /etc/hosts), not
# grpcio's own c-ares resolver, which asks a DNS server the pods do not have.
os.environ.setdefault("GRPC_DNS_RESOLVER", "native")
import grpc  # noqa: E402


def ident(b):
    return b


def serve(addr, name):
    def hello(req, ctx):
        print("call Hello " + req.decode(errors="replace"), flush=True)
        return name.encode() + b":" + req

    def count(req, ctx):
        for i in range(int(req.decode() or "3")):
            yield b"%s:%d" % (name.encode(), i)

    handlers = {
        "Hello": grpc.unary_unary_rpc_method_handler(
            hello, request_deserializer=ident, response_serializer=ident),
        "Count": grpc.unary_stream_rpc_method_handler(
            count, request_deserializer=ident, response_serializer=ident),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("demo.Echo", handlers),))
    if not server.add_insecure_port(addr):
        sys.exit("grpc_peer: cannot listen on " + addr)
    server.start()
    print("serving", flush=True)
    server.wait_for_termination()


def channel(target, authority):
    return grpc.insecure_channel(target, options=[("grpc.default_authority", authority)])


def main():
    mode = sys.argv[1]
    if mode == "serve":
        serve(sys.argv[2], sys.argv[3])
        return
    target, authority, arg = sys.argv[2], sys.argv[3], sys.argv[4]
    with channel(target, authority) as ch:
        md = [tuple(kv.split("=", 1)) for kv in sys.argv[5:]]
        try:
            if mode == "hello":
                f = ch.unary_unary("/demo.Echo/Hello", request_serializer=ident,
                                   response_deserializer=ident)
                print(f(arg.encode(), metadata=md, timeout=10).decode())
            else:
                f = ch.unary_stream("/demo.Echo/Count", request_serializer=ident,
                                    response_deserializer=ident)
                for m in f(arg.encode(), metadata=md, timeout=10):
                    print(m.decode())
        except grpc.RpcError as e:
            print("status " + e.code().name)


if __name__ == "__main__":
    main()
