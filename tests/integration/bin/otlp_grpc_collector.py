#!/usr/bin/python3
# An OTLP/gRPC trace collector for t_76_tracing: opentelemetry.proto.collector.trace.v1.
# TraceService/Export on Debian's python3-grpcio, its messages the tree's own proto/ files
# compiled by protoc (the test does it into MODULES, which the pod can see). Every export is
# logged: its span count, each span's trace id, service and name, so the test can find its own.
#   otlp_grpc_collector.py PORT MODULES
import os
import sys
from concurrent import futures

os.environ.setdefault("GRPC_DNS_RESOLVER", "native")
import grpc  # noqa: E402

sys.path.insert(0, sys.argv[2])
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb  # noqa: E402


def export(req, ctx):
    n = 0
    for rs in req.resource_spans:
        service = "-"
        for kv in rs.resource.attributes:
            if kv.key == "service.name":
                service = kv.value.string_value
        for ss in rs.scope_spans:
            for s in ss.spans:
                n += 1
                print("span trace=%s id=%s parent=%s service=%s name=%s" % (
                    s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex() or "-", service,
                    s.name), flush=True)
    print("export %d spans" % n, flush=True)
    return pb.ExportTraceServiceResponse()


handler = grpc.method_handlers_generic_handler(
    "opentelemetry.proto.collector.trace.v1.TraceService", {
        "Export": grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=pb.ExportTraceServiceRequest.FromString,
            response_serializer=pb.ExportTraceServiceResponse.SerializeToString),
    })
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
server.add_generic_rpc_handlers((handler,))
if not server.add_insecure_port("0.0.0.0:" + sys.argv[1]):
    sys.exit("cannot listen on " + sys.argv[1])
server.start()
print("serving TraceService/Export on " + sys.argv[1], flush=True)
server.wait_for_termination()
