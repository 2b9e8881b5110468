#!/usr/bin/python3
# The logic of Istio's sample ext-authz server (samples/extauthz) over gRPC, for the waypoint's
# CUSTOM tests with an envoyExtAuthzGrpc provider (t_83_waypoint_extauthz_grpc): a real
# envoy.service.auth.v3.Authorization/Check server on Debian's python3-grpcio, its messages the
# tree's own proto/ files compiled by protoc at start. A check is allowed when the request has
# "x-ext-authz: allow" (OK, ok_response with "x-ext-authz-check-result: allowed"); otherwise
# denied (PERMISSION_DENIED, denied_response 403 with "x-ext-authz-check-result: denied" and
# the sample's body). On allow it also overwrites x-echo with "from-ext-authz" (append false),
# or, when the request has "x-ext-authz-op: remove", asks for x-echo to be removed; with
# "x-ext-authz-op: slow" it answers only after 8 s (past the provider's timeout). Every check
# is logged with its method, path, host, protocol, source and headers.
#   ext_authz_grpc.py PORT [MODULES]
# MODULES: a directory where the messages are already compiled (the test does it on the host
# when the tree is not visible from the pod: a checkout under /tmp, which pods see privately).
import os
import subprocess
import sys
import tempfile
import time
from concurrent import futures

os.environ.setdefault("GRPC_DNS_RESOLVER", "native")
import grpc  # noqa: E402

REPO = os.path.realpath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "../../../.."))
PROTO = os.path.join(REPO, "proto")
if len(sys.argv) > 2:
    out = sys.argv[2]
else:
    out = tempfile.mkdtemp(dir=os.environ.get("AMBIT_POD_DIR"))
    files = []
    for d, _, names in os.walk(PROTO):
        for n in names:
            rel = os.path.relpath(os.path.join(d, n), PROTO)
            # google.protobuf.BoolValue is python3-protobuf's own (the same message).
            if n.endswith(".proto") and not rel.startswith("google/protobuf/"):
                files.append(rel)
    subprocess.run(["protoc", "-I", PROTO, "--python_out=" + out] + files, check=True)
sys.path.insert(0, out)
from envoy.service.auth.v3 import external_auth_pb2 as pb  # noqa: E402

DENIED_BODY = "denied by ext_authz for not found header `x-ext-authz: allow` in the request"
OK, PERMISSION_DENIED = 0, 7


def check(req, ctx):
    a = req.attributes
    http = a.request.http
    fields = ";".join("%s=%s" % kv for kv in sorted(http.headers.items()))
    print("check %s %s host=%s protocol=%s source=%s:%d principal=%s %s" % (
        http.method, http.path, http.host, http.protocol,
        a.source.address.socket_address.address, a.source.address.socket_address.port_value,
        a.source.principal or "-", fields), flush=True)
    resp = pb.CheckResponse()
    if http.headers.get("x-ext-authz-op") == "slow":
        time.sleep(8)
    if http.headers.get("x-ext-authz") == "allow":
        resp.status.code = OK
        h = resp.ok_response.headers.add()
        h.header.key, h.header.value = "x-ext-authz-check-result", "allowed"
        if http.headers.get("x-ext-authz-op") == "remove":
            resp.ok_response.headers_to_remove.append("x-echo")
        else:
            h = resp.ok_response.headers.add()
            h.header.key, h.header.value = "x-echo", "from-ext-authz"
            h.append.value = False
        return resp
    resp.status.code = PERMISSION_DENIED
    resp.denied_response.status.code = 403
    h = resp.denied_response.headers.add()
    h.header.key, h.header.value = "x-ext-authz-check-result", "denied"
    resp.denied_response.body = DENIED_BODY
    return resp


handler = grpc.method_handlers_generic_handler("envoy.service.auth.v3.Authorization", {
    "Check": grpc.unary_unary_rpc_method_handler(
        check, request_deserializer=pb.CheckRequest.FromString,
        response_serializer=pb.CheckResponse.SerializeToString),
})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
server.add_generic_rpc_handlers((handler,))
if not server.add_insecure_port("0.0.0.0:" + sys.argv[1]):
    sys.exit("cannot listen on " + sys.argv[1])
server.start()
print("serving Authorization/Check on " + sys.argv[1], flush=True)
server.wait_for_termination()
