#!/usr/bin/python3
"""A fake Kubernetes API server for tests: discovery, GET/LIST/WATCH, writes, TokenReview,
TokenRequest, RBAC.

It speaks the wire protocol and JSON shapes of the real kube-apiserver closely enough for kubectl
and a list/watch client to run against it (one global resourceVersion, chunked lists with continue
tokens, watch streams with BOOKMARKs, 410 Expired after a compaction, Status errors), with no
cluster on the machine. What it does not do is listed in tests/k8s/README.md.

    fake_apiserver.py --listen 127.0.0.1:PORT [--token T] [--load FILE.json|DIR ...]
                      [--tls-cert PEM --tls-key PEM] [--bookmark-seconds N]
                      [--token-table-auth]
"""
import argparse
import base64
import bisect
import copy
import datetime
import ipaddress
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import fake_kinds
import fake_rbac  # who may do what (beside this file)
import fake_streams  # pods/log, pods/exec, pods/portforward (beside this file)

# (group, versions, plural, kind, namespaced, verbs-kind). The first version is the preferred one.
RW = ["create", "delete", "get", "list", "patch", "update", "watch"]
RESOURCES = [
    ("", ["v1"], "namespaces", "Namespace", False, RW, ["ns"]),
    ("", ["v1"], "pods", "Pod", True, RW, ["po"]),
    ("", ["v1"], "services", "Service", True, RW, ["svc"]),
    ("", ["v1"], "serviceaccounts", "ServiceAccount", True, RW, ["sa"]),
    ("", ["v1"], "secrets", "Secret", True, RW, []),
    ("", ["v1"], "nodes", "Node", False, RW, ["no"]),
    ("", ["v1"], "events", "Event", True, RW, ["ev"]),
    # Each node agent's Lease (its capture mode, for `ambitctl nodes`).
    ("coordination.k8s.io", ["v1"], "leases", "Lease", True, RW, []),
    ("discovery.k8s.io", ["v1"], "endpointslices", "EndpointSlice", True, RW, []),
    ("authentication.k8s.io", ["v1"], "tokenreviews", "TokenReview", False, ["create"], []),
    # What `kubectl auth can-i` asks (fake_rbac.py decides).
    ("authorization.k8s.io", ["v1"], "selfsubjectaccessreviews", "SelfSubjectAccessReview",
     False, ["create"], []),
    ("authorization.k8s.io", ["v1"], "subjectaccessreviews", "SubjectAccessReview", False,
     ["create"], []),
    # What `ambitctl install` applies.
    ("", ["v1"], "configmaps", "ConfigMap", True, RW, ["cm"]),
    ("apps", ["v1"], "deployments", "Deployment", True, RW, ["deploy"]),
    ("apps", ["v1"], "daemonsets", "DaemonSet", True, RW, ["ds"]),
    ("apps", ["v1"], "replicasets", "ReplicaSet", True, RW, ["rs"]),
    ("rbac.authorization.k8s.io", ["v1"], "clusterroles", "ClusterRole", False, RW, []),
    ("rbac.authorization.k8s.io", ["v1"], "clusterrolebindings", "ClusterRoleBinding", False, RW,
     []),
    ("rbac.authorization.k8s.io", ["v1"], "roles", "Role", True, RW, []),
    ("rbac.authorization.k8s.io", ["v1"], "rolebindings", "RoleBinding", True, RW, []),
    ("apiextensions.k8s.io", ["v1"], "customresourcedefinitions", "CustomResourceDefinition", False,
     RW, ["crd", "crds"]),
]
for _p, _k, _s in [("virtualservices", "VirtualService", ["vs"]),
                   ("destinationrules", "DestinationRule", ["dr"]),
                   ("gateways", "Gateway", ["gw"]),
                   ("serviceentries", "ServiceEntry", ["se"]),
                   ("sidecars", "Sidecar", [])]:
    RESOURCES.append(("networking.istio.io", ["v1", "v1beta1", "v1alpha3"], _p, _k, True, RW, _s))
for _p, _k, _s in [("authorizationpolicies", "AuthorizationPolicy", ["ap"]),
                   ("peerauthentications", "PeerAuthentication", ["pa"]),
                   ("requestauthentications", "RequestAuthentication", ["ra"])]:
    RESOURCES.append(("security.istio.io", ["v1", "v1beta1"], _p, _k, True, RW, _s))
# The short names are the CRDs' own (Istio's crd-all.gen.yaml, the Gateway API's release).
for _p, _k, _s in [("gateways", "Gateway", ["gtw"]), ("httproutes", "HTTPRoute", []),
                   ("grpcroutes", "GRPCRoute", [])]:
    RESOURCES.append(("gateway.networking.k8s.io", ["v1", "v1beta1"], _p, _k, True, RW, _s))
RESOURCES.append(("gateway.networking.k8s.io", ["v1alpha2"], "tcproutes", "TCPRoute", True, RW, []))
RESOURCES.append(("gateway.networking.k8s.io", ["v1", "v1beta1", "v1alpha2"], "referencegrants",
                  "ReferenceGrant", True, RW, ["refgrant"]))
RESOURCES.append(("gateway.networking.k8s.io", ["v1alpha2", "v1alpha3"], "tlsroutes", "TLSRoute", True,
                  RW, []))
RESOURCES.append(("networking.istio.io", ["v1alpha3"], "envoyfilters", "EnvoyFilter", True, RW, []))
RESOURCES.append(("networking.ambit.io", ["v1alpha1"], "localratelimits", "LocalRateLimit", True,
                  RW, []))
RESOURCES.append(("telemetry.istio.io", ["v1", "v1alpha1"], "telemetries", "Telemetry", True, RW,
                  ["telemetry"]))

BY_PATH = {}  # (group, version, plural) -> resource tuple
BY_KIND = {}  # (group, kind) -> resource tuple
BY_PLURAL = {}  # (group, plural) -> resource tuple
for _r in RESOURCES:
    for _v in _r[1]:
        BY_PATH[(_r[0], _v, _r[2])] = _r
    BY_KIND[(_r[0], _r[3])] = _r
    BY_PLURAL[(_r[0], _r[2])] = _r


def api_version(group, version):
    return f"{group}/{version}" if group else version


# The API server's own audience and service account token issuer: a bound token must be for it.
API_AUDIENCE = "https://kubernetes.default.svc"


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """A failure the client gets as a Status object."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            st["details"] = self.details
        return st


def not_found(res, name):
    return ApiError(404, "NotFound", f'{res[2]}{group_suffix(res)} "{name}" not found',
                    {"name": name, "group": res[0], "kind": res[2]})


def group_suffix(res):
    return f".{res[0]}" if res[0] else ""


def gone(message):
    return ApiError(410, "Expired", message)


# ---- selectors ----

def split_top(text):
    """Splits a selector on the commas that are not inside an in (...) set."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


LABEL_KEY = re.compile(r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                       r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def parse_label_selector(text):
    """Returns a predicate over a labels dict; raises ApiError(400) on a malformed selector."""
    reqs = []
    for term in split_top(text or ""):
        words = term.split(None, 1)
        if len(words) == 2 and words[1].split("(", 1)[0].strip() in ("in", "notin"):
            op, rest = words[1].split("(", 1)
            if not rest.endswith(")"):
                raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")
            vals = {v.strip() for v in rest[:-1].split(",")}
            reqs.append((words[0], op.strip(), vals))
        elif "!=" in term:
            k, v = term.split("!=", 1)
            reqs.append((k.strip(), "notin", {v.strip()}))
        elif "=" in term:
            k, v = term.split("==", 1) if "==" in term else term.split("=", 1)
            reqs.append((k.strip(), "in", {v.strip()}))
        elif term.startswith("!"):
            reqs.append((term[1:].strip(), "!", None))
        elif " " not in term and "(" not in term:
            reqs.append((term, "exists", None))
        else:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")

    for key, _, vals in reqs:
        if not LABEL_KEY.fullmatch(key) or any(not LABEL_VALUE.fullmatch(v)
                                                for v in vals or ()):
            raise ApiError(400, "BadRequest", f"unable to parse requirement: invalid label "
                           f"key or value in {text!r}")

    def match(labels):
        for key, op, vals in reqs:
            has = key in labels
            if op == "in" and not (has and labels[key] in vals):
                return False
            if op == "notin" and has and labels[key] in vals:
                return False
            if op == "exists" and not has:
                return False
            if op == "!" and has:
                return False
        return True
    return match


FIELDS = {"metadata.name": lambda o: o["metadata"].get("name", ""),
          "metadata.namespace": lambda o: o["metadata"].get("namespace", "")}
POD_FIELDS = {"spec.nodeName": lambda o: o.get("spec", {}).get("nodeName", ""),
              "status.phase": lambda o: o.get("status", {}).get("phase", "")}


SECRET_FIELDS = {"type": lambda o: o.get("type", "Opaque")}

# An Event's selectable fields (the real server's event field set): kubectl describe finds an
# object's events by involvedObject.{name,namespace,kind,uid}.
EVENT_FIELDS = {f"involvedObject.{k}": (lambda k: lambda o: str((o.get("involvedObject") or {})
                                                                 .get(k, "")))(k)
                for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion",
                          "fieldPath")}
EVENT_FIELDS.update({k: (lambda k: lambda o: str(o.get(k) or ""))(k)
                     for k in ("reason", "type", "reportingComponent")})
EVENT_FIELDS["source"] = lambda o: (o.get("source") or {}).get("component", "")


def parse_field_selector(text, res):
    fields = dict(FIELDS, **(POD_FIELDS if res[3] == "Pod" else
                             SECRET_FIELDS if res[3] == "Secret" else
                             EVENT_FIELDS if res[3] == "Event" else {}))
    reqs = []
    for term in split_top(text or ""):
        neg = "!=" in term
        k, v = term.split("!=" if neg else ("==" if "==" in term else "="), 1) \
            if ("=" in term) else (term, None)
        if v is None or k.strip() not in fields:
            raise ApiError(400, "BadRequest",
                           f'"{k.strip()}" is not a known field selector: only "'
                           + '", "'.join(sorted(fields)) + '"')
        reqs.append((fields[k.strip()], v.strip(), neg))
    return lambda o: all((get(o) != v) if neg else (get(o) == v) for get, v, neg in reqs)


# ---- the store ----

# Namespaces a namespaced write is admitted into before their Namespace object exists. A real
# cluster has default from the start, and one with Istio has istio-system; here the local
# cluster's mirror creates them (and, until it adopts an object it did not make, would fail on
# one already there), and its plan writes the ingress gateway into istio-system even when
# `ambitctl install` made no istio-system. Any other missing namespace is 404.
ADMITTED_BEFORE_CREATED = ("istio-system",)

# The built-in resources with a status subresource; every custom kind has one too (its CRD
# says `subresources: {status: {}}`, as Istio's and the Gateway API's do).
STATUS_BUILTIN = {("", "pods"), ("", "services"), ("", "namespaces"), ("", "nodes"),
                  ("apps", "deployments"), ("apps", "daemonsets"), ("apps", "replicasets"),
                  ("apps", "statefulsets"), ("apiextensions.k8s.io", "customresourcedefinitions")}


def has_status(res):
    """Whether the resource has a status subresource: then a write of the object itself leaves
    its status as it was, and only PUT or PATCH on /status changes it (the real server's
    strategies: PrepareForUpdate copies the old status over the new object's)."""
    return res[0] not in fake_kinds.BUILTIN_GROUPS or (res[0], res[2]) in STATUS_BUILTIN


def strategy(res, md):
    """What the real server's strategies set on every create and update: a Namespace's
    kubernetes.io/metadata.name label is its name (NamespaceDefaultLabelName, GA since 1.22)."""
    if res[0] == "" and res[2] == "namespaces":
        md["labels"] = dict(md.get("labels") or {}, **{"kubernetes.io/metadata.name": md["name"]})

def ip_family(ip):
    """"IPv4" or "IPv6" for an IP address, None for anything else."""
    try:
        return "IPv%d" % ipaddress.ip_address(ip).version
    except ValueError:
        return None


def service_rules(name, spec, old_spec=None):
    """The real server's Service validation of its families (ValidateService, and
    ValidateServiceUpdate with @old_spec): clusterIP is clusterIPs[0]; each clusterIPs[i] is of
    the family ipFamilies[i] names; once set, the primary family and address never change (a
    dual-stack Service keeps the order it was made with). A 422 ApiError, or None."""
    errs = []
    ips, fams = spec.get("clusterIPs") or [], spec.get("ipFamilies") or []
    cip = spec.get("clusterIP")
    if ips and cip and cip != ips[0]:
        errs.append(f'spec.clusterIPs[0]: Invalid value: "{ips[0]}": must match `clusterIP` '
                    "when set")
    for i, ip in enumerate(ips):
        if ip == "None" or i >= len(fams) or ip_family(ip) is None:
            continue
        if ip_family(ip) != fams[i]:
            errs.append(f'spec.clusterIPs[{i}]: Invalid value: "{ip}": expected an '
                        f"{fams[i]} value as indicated by `ipFamilies[{i}]`")
    old = old_spec or {}
    if fams and old.get("ipFamilies") and fams[0] != old["ipFamilies"][0]:
        errs.append(f'spec.ipFamilies[0]: Invalid value: "{fams[0]}": may not change once set')
    if ips and old.get("clusterIPs") and ips[0] != old["clusterIPs"][0] and \
            spec.get("type") != "ExternalName":
        errs.append(f'spec.clusterIPs[0]: Invalid value: "{ips[0]}": may not change once set')
    if not errs:
        return None
    return ApiError(422, "Invalid", f'Service "{name}" is invalid: ' + ", ".join(errs),
                    {"name": name, "group": "", "kind": "Service"})


class Store:
    """Every object of every resource, with one resourceVersion counter and an event log."""

    def __init__(self):
        self.lock = threading.Condition()
        self.rv = 1
        self.compacted = 0  # RVs at or below this are too old for watches and continues
        self.objects = {}  # (group, plural, namespace, name) -> object
        self.rbac = {}  # the same, for the RBAC kinds only: what each request is judged by
        # (rv, type, (group, plural), object, the object as its previous event left it or None),
        # in RV order; the previous states are kept by key, as the real one keeps prevObject.
        self.events = []
        self.last_state = {}  # (group, plural, namespace, name) -> object at its last event
        self.tokens = {}  # bearer token -> TokenReview status.user
        # TokenRequest's tokens -> what binds them: a bearer token while this holds (bound_ok)
        self.bound = {}
        self.watch_epoch = 0  # bumped by close-watches
        self.watch_sockets = set()
        self.loading = False  # --load: fixtures may come before their namespace

    def _put(self, key, obj):
        self.objects[key] = obj
        if key[0] == fake_rbac.RBAC_GROUP:
            self.rbac[key] = obj

    def _pop(self, key):
        self.rbac.pop(key, None)
        return self.objects.pop(key)

    def _next_rv(self):
        self.rv += 1
        return self.rv

    def _record(self, kind, res, obj):
        md = obj["metadata"]
        key = (res[0], res[2], md.get("namespace"), md["name"])
        snap = copy.deepcopy(obj)
        self.events.append((self.rv, kind, (res[0], res[2]), snap, self.last_state.get(key)))
        self.last_state[key] = snap
        self.lock.notify_all()

    def events_after(self, rv):
        """The events above `rv` (the caller holds the lock): found in halves, as a watch wakes
        on every write and the log holds every object the server was loaded with."""
        return self.events[bisect.bisect_right(self.events, rv, key=lambda e: e[0]):]

    def get(self, res, ns, name):
        with self.lock:
            obj = self.objects.get((res[0], res[2], ns, name))
            if obj is None:
                raise not_found(res, name)
            return copy.deepcopy(obj)

    def issue_token(self, token, user, binding):
        """Registers a TokenRequest's token: `user` its table entry, `binding` bound_ok's."""
        with self.lock:
            self.tokens[token] = user
            self.bound[token] = binding

    def token_user(self, token, audiences=None):
        """The table entry bearer token `token` names, or None. A TokenRequest's only while
        bound_ok holds and, for `audiences` (the API server's when None), while it was
        issued for one of them, as the real server's service account authenticator checks a
        bound token's claims."""
        with self.lock:
            user = self.tokens.get(token)
            binding = self.bound.get(token)
            if user is None or binding is None:
                return user
            if not set(audiences or [API_AUDIENCE]) & set(binding["audiences"]):
                return None
            return user if self.bound_ok(binding) else None

    def bound_ok(self, binding):
        """Whether a bound token is good still: not expired, its service account (and the
        object it is bound to, if any) the same objects, by uid, as when it was issued: a
        service account deleted and made again does not take its old tokens back. The
        caller holds the lock."""
        if time.time() >= binding["exp"]:
            return False
        for key, uid in binding["objects"]:
            obj = self.objects.get(key)
            if obj is None or obj["metadata"].get("uid") != uid:
                return False
        return True

    def list(self, res, ns):
        with self.lock:
            items = [copy.deepcopy(o) for (g, p, n, _), o in sorted(self.objects.items())
                     if g == res[0] and p == res[2] and (ns is None or n == ns)]
            return items, self.rv

    def list_page(self, res, ns, match, start, limit):
        """One LIST page: the objects from key `start` on that `match`, at most `limit` (0: all),
        copied (only the page's: a chunked list of 10,000 objects copies each once), the RV, and
        how many more there are."""
        with self.lock:
            keyed = sorted((f'{o["metadata"].get("namespace", "")}/{o["metadata"]["name"]}', o)
                           for (g, p, n, _), o in self.objects.items()
                           if g == res[0] and p == res[2] and (ns is None or n == ns))
            keyed = [(k, o) for k, o in keyed if k >= start and match(o)]
            more = len(keyed) - limit if 0 < limit < len(keyed) else 0
            if more:
                keyed = keyed[:limit]
            return [(k, copy.deepcopy(o)) for k, o in keyed], self.rv, more

    def create(self, res, ns, obj):
        md = obj.setdefault("metadata", {})
        if not md.get("name"):
            if not md.get("generateName"):
                raise ApiError(400, "BadRequest", "name or generateName is required")
            md["name"] = md["generateName"] + uuid.uuid4().hex[:5]
        if res[4]:
            if md.get("namespace", ns) != ns:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does "
                               "not match the namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        with self.lock:
            key = (res[0], res[2], ns if res[4] else "", md["name"])
            # NamespaceLifecycle admission: no object goes into a namespace that is not there
            # (or is being deleted).
            if res[4] and not self.loading:
                nso = self.objects.get(("", "namespaces", "", ns))
                if nso is None and ns not in ADMITTED_BEFORE_CREATED:
                    raise ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                                   {"name": ns, "kind": "namespaces"})
                if nso and nso["metadata"].get("deletionTimestamp"):
                    raise ApiError(403, "Forbidden", f'{res[2]}{group_suffix(res)} '
                                   f'"{md["name"]}" is forbidden: unable to create new content '
                                   f'in namespace {ns} because it is being terminated',
                                   {"name": md["name"], "group": res[0], "kind": res[2]})
            if res[0] == "" and res[2] == "services" and not self.loading:
                err = service_rules(md["name"], obj.get("spec") or {})
                if err:
                    raise err
            if key in self.objects:
                raise ApiError(409, "AlreadyExists",
                               f'{res[2]}{group_suffix(res)} "{md["name"]}" already exists',
                               {"name": md["name"], "group": res[0], "kind": res[2]})
            md["uid"] = md.get("uid") or str(uuid.uuid4())
            md["creationTimestamp"] = md.get("creationTimestamp") or now_rfc3339()
            md["resourceVersion"] = str(self._next_rv())
            if "spec" in obj:
                md["generation"] = 1
            md.pop("deletionTimestamp", None)
            strategy(res, md)
            self._put(key, obj)
            self._record("ADDED", res, obj)
            return copy.deepcopy(obj)

    def update(self, res, ns, name, obj, check_rv=True, keep_status=False):
        """Replaces the object; with `keep_status` (a write of the object itself, not of its
        /status, on a resource that has one) its status stays what it was."""
        md = obj.setdefault("metadata", {})
        if md.get("name", name) != name:
            raise ApiError(400, "BadRequest", "the name of the object "
                           f'({md.get("name")}) does not match the name on the URL ({name})')
        with self.lock:
            key = (res[0], res[2], ns if res[4] else "", name)
            old = self.objects.get(key)
            if old is None:
                raise not_found(res, name)
            if check_rv and md.get("resourceVersion") and \
                    md["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict",
                               f'Operation cannot be fulfilled on {res[2]}{group_suffix(res)} '
                               f'"{name}": the object has been modified; please apply your '
                               "changes to the latest version and try again",
                               {"name": name, "group": res[0], "kind": res[2]})
            # As the real one: a workload controller's selector is set at creation for good.
            if res[0] == "apps" and (obj.get("spec") or {}).get("selector") != \
                    (old.get("spec") or {}).get("selector"):
                raise ApiError(422, "Invalid",
                               f'{res[3]}.apps "{name}" is invalid: spec.selector: Invalid value: '
                               f'{json.dumps((obj.get("spec") or {}).get("selector"))}: '
                               "field is immutable",
                               {"name": name, "group": res[0], "kind": res[3]})
            if res[0] == "" and res[2] == "services":
                err = service_rules(name, obj.get("spec") or {}, old.get("spec") or {})
                if err:
                    raise err
            for f in ("uid", "creationTimestamp", "namespace"):
                if f in old["metadata"]:
                    md[f] = old["metadata"][f]
            if keep_status:
                obj.pop("status", None)
                if "status" in old:
                    obj["status"] = copy.deepcopy(old["status"])
            md["name"] = name
            strategy(res, md)
            gen = old["metadata"].get("generation")
            if gen is not None or "spec" in obj:
                md["generation"] = (gen or 1) + (obj.get("spec") != old.get("spec"))
            md["resourceVersion"] = old["metadata"]["resourceVersion"]
            if obj == old:
                return copy.deepcopy(old)  # a no-op write keeps the RV, as the real one does
            md["resourceVersion"] = str(self._next_rv())
            self._put(key, obj)
            self._record("MODIFIED", res, obj)
            return copy.deepcopy(obj)

    def delete(self, res, ns, name):
        with self.lock:
            key = (res[0], res[2], ns if res[4] else "", name)
            if key not in self.objects:
                raise not_found(res, name)
            if res[0] == "" and res[2] == "namespaces":
                # The namespace controller's work, done at once: every object in the namespace
                # goes (each a DELETED event), then the namespace. No Terminating phase is seen.
                for k in sorted(k for k in self.objects if k[2] == name and k[2]):
                    gone_obj = self._pop(k)
                    gone_obj["metadata"]["resourceVersion"] = str(self._next_rv())
                    self._record("DELETED", BY_PLURAL[(k[0], k[1])], gone_obj)
            obj = self._pop(key)
            obj["metadata"]["resourceVersion"] = str(self._next_rv())
            self._record("DELETED", res, obj)
            return copy.deepcopy(obj)

    def bootstrap(self, crds=True):
        """What a new cluster has: its system namespaces, the default RBAC roles and bindings
        (fake_rbac.py), and (`crds`) a CRD for each custom kind
        served, as a cluster with Istio and the Gateway API installed lists them (`ambitctl
        install crds` or a user's kubectl applies over them). "istio-system" is left to whoever
        writes it first, as an install makes it (see ADMITTED_BEFORE_CREATED)."""
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if ("", "namespaces", "", name) not in self.objects:
                self.create(BY_PLURAL[("", "namespaces")], "",
                            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
                             "spec": {"finalizers": ["kubernetes"]},
                             "status": {"phase": "Active"}})
        for o in fake_rbac.bootstrap_objects():
            res = BY_KIND[(fake_rbac.RBAC_GROUP, o["kind"])]
            if (res[0], res[2], "", o["metadata"]["name"]) not in self.objects:
                self.create(res, "", o)
        if not crds:
            return
        crd = BY_PLURAL[("apiextensions.k8s.io", "customresourcedefinitions")]
        for o in fake_kinds.crd_objects(RESOURCES):
            if ("apiextensions.k8s.io", "customresourcedefinitions", "",
                    o["metadata"]["name"]) not in self.objects:
                self.create(crd, "", o)

    def compact(self):
        with self.lock:
            self.compacted = self.rv
            self.events.clear()
            return self.rv

    def close_watches(self):
        with self.lock:
            self.watch_epoch += 1
            socks = list(self.watch_sockets)
            self.lock.notify_all()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(socks)

    def load(self, path):
        self.loading = True
        try:
            self._load(path)
        finally:
            self.loading = False

    def _load(self, path):
        if os.path.isdir(path):
            for f in sorted(os.listdir(path)):
                if f.endswith(".json"):
                    self._load(os.path.join(path, f))
            return
        with open(path) as fh:
            try:
                doc = json.load(fh)
            except json.JSONDecodeError as e:
                sys.exit(f"fake_apiserver: {path}: not JSON: {e}")
        if doc.get("kind") == "FakeTokenTable":
            self.tokens.update(doc.get("tokens", {}))
            return
        for obj in doc.get("items", []) if doc.get("kind", "").endswith("List") else [doc]:
            group = obj.get("apiVersion", "").rpartition("/")[0]
            res = BY_KIND.get((group, obj.get("kind")))
            if res is None:
                sys.exit(f"fake_apiserver: {path}: unknown kind {obj.get('apiVersion')}/"
                         f"{obj.get('kind')}")
            try:
                self.create(res, obj["metadata"].get("namespace", "default") if res[4] else "",
                            obj)
            except ApiError as e:
                sys.exit(f"fake_apiserver: {path}: {e.message}")


# ---- merge patch (RFC 7386) ----

def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ---- continue tokens ----

def encode_continue(rv, last_key):
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": last_key + "\x00"})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_continue(token):
    try:
        doc = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(doc["rv"]), doc["start"]
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "BadRequest", "continue key is not valid: incorrect encoded start "
                       "resourceVersion (version meta.k8s.io/v1)")


# ---- HTTP ----

def discovery_resources(group, version):
    out = []
    for res in RESOURCES:
        if res[0] != group or version not in res[1]:
            continue
        ent = {"name": res[2], "singularName": res[3].lower(), "namespaced": res[4],
               "kind": res[3], "verbs": res[5]}
        if res[6]:
            ent["shortNames"] = res[6]
        cats = fake_kinds.categories(res)
        if cats:
            ent["categories"] = cats
        out.append(ent)
        for sub, sub_kind, sub_group, verbs in SUBRESOURCE_DISCOVERY.get((group, res[2]), []):
            s = {"name": f"{res[2]}/{sub}", "singularName": "", "namespaced": res[4],
                 "kind": sub_kind, "verbs": verbs}
            if sub_group:
                s["group"], s["version"] = sub_group
            out.append(s)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion":
            api_version(group, version), "resources": out}


# The subresources discovery lists: (group, plural) -> [(name, kind, (group, version), verbs)].
# A subresource served by another module adds itself here and to Handler.subresources.
SUBRESOURCE_DISCOVERY = {
    ("", "pods"): [("status", "Pod", None, ["get", "patch", "update"])],
    ("apps", "deployments"): [("status", "Deployment", None, ["get", "patch", "update"]),
                              ("scale", "Scale", ("autoscaling", "v1"), ["get", "patch",
                                                                          "update"])],
    ("apps", "daemonsets"): [("status", "DaemonSet", None, ["get", "patch", "update"])],
    ("", "serviceaccounts"): [("token", "TokenRequest", ("authentication.k8s.io", "v1"),
                               ["create"])],
    ("apps", "replicasets"): [("status", "ReplicaSet", None, ["get", "patch", "update"]),
                              ("scale", "Scale", ("autoscaling", "v1"), ["get", "patch",
                                                                          "update"])],
}


def check_shape(res, obj):
    """What the real server's decoding refuses before anything else looks at an object: metadata
    strings and string maps of the wrong JSON type, a spec or status that is not an object."""
    def refuse(path, want, got):
        names = {str: "string", int: "number", float: "number", bool: "bool", list: "array",
                 dict: "object", type(None): "null"}
        raise ApiError(400, "BadRequest", f'{res[3]} in version "{res[1][0]}" cannot be handled '
                       f'as a {res[3]}: json: cannot unmarshal {names.get(type(got), "value")} '
                       f'into Go struct field {path} of type {want}')
    md = obj.get("metadata")
    if md is not None and not isinstance(md, dict):
        refuse(f"{res[3]}.metadata", "v1.ObjectMeta", md)
    for k in ("name", "generateName", "namespace", "uid", "resourceVersion"):
        if k in (md or {}) and not isinstance(md[k], str):
            refuse(f"ObjectMeta.metadata.{k}", "string", md[k])
    for k in ("labels", "annotations"):
        v = (md or {}).get(k)
        if v is not None and not (isinstance(v, dict) and
                                  all(isinstance(x, str) for x in v.values())):
            refuse(f"ObjectMeta.metadata.{k}", "map[string]string", v)
    for k in ("spec", "status"):
        if obj.get(k) is not None and not isinstance(obj[k], dict):
            refuse(f"{res[3]}.{k}", "object", obj[k])
    schema = fake_kinds.schema_for(res[0], res[1][0], res[3])
    err = schema and fake_kinds.type_error(obj, schema)
    if err:
        refuse(f"{res[3]}.{err[0]}", err[1], err[2])


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                    "requested resource")


def discovery_group(group):
    versions = []
    for res in RESOURCES:
        versions += [v for v in res[1] if res[0] == group and v not in versions]
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs,
            "preferredVersion": gvs[0]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver"
    # A response goes out as headers then body: with Nagle, a keep-alive client's next request
    # waited for the delayed ACK of the last one (40 ms a call).
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fake_apiserver: " + fmt % args + "\n")

    @property
    def store(self):
        return self.server.store

    # -- replies --

    def reply(self, code, doc):
        self.reply_raw(code, json.dumps(doc).encode(), "application/json")

    def reply_raw(self, code, body, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for w in getattr(self, "warnings", []):
            self.send_header("Warning", '299 - "' + w.replace('"', '\\"') + '"')
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # -- Tables (kubectl get's columns, computed by the server) --

    def table_version(self):
        """meta.k8s.io/v1 or v1beta1 when the Accept header asks for a Table, else None."""
        for part in self.headers.get("Accept", "").split(","):
            params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
            if params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and \
                    params.get("v") in ("v1", "v1beta1"):
                return "meta.k8s.io/" + params["v"]
            if part.split(";")[0].strip() in ("application/json", "*/*", ""):
                return None
        return None

    def table(self, res, av, objs, tv, meta):
        include = self.query.get("includeObject", "Metadata")
        if include not in ("None", "Metadata", "Object"):
            raise ApiError(400, "BadRequest", f'includeObject: unsupported value "{include}"')
        rows = []
        for o in objs:
            row = {"cells": fake_kinds.table_row(res, o)}
            if include == "Object":
                row["object"] = dict({"kind": res[3], "apiVersion": av}, **{
                    k: v for k, v in o.items() if k not in ("kind", "apiVersion")})
            elif include == "Metadata":
                row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": tv,
                                 "metadata": o["metadata"]}
            rows.append(row)
        return {"kind": "Table", "apiVersion": tv, "metadata": meta,
                "columnDefinitions": fake_kinds.table_columns(res), "rows": rows}

    def reply_object(self, res, av, obj):
        tv = self.table_version()
        if tv:
            return self.reply(200, self.table(res, av, [obj], tv, {
                "resourceVersion": obj["metadata"].get("resourceVersion", "")}))
        return self.reply(200, dict(obj, apiVersion=av))

    def body_json(self):
        """The request's JSON body. A body in a type not read here (protobuf, CBOR, YAML) is
        415, which client-go answers by sending JSON instead."""
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if self.command in ("POST", "PUT") and ctype == "application/vnd.kubernetes.protobuf":
            try:
                return fake_kinds.decode_k8s_protobuf(self.raw)
            except (ValueError, UnicodeDecodeError):
                pass  # a kind not read in protobuf: 415 below
        if self.command in ("POST", "PUT") and ctype not in ("", "application/json", "*/*"):
            raise ApiError(415, "UnsupportedMediaType", f'the body of the request was in an '
                           f'unknown format - accepted media types include: application/json')
        try:
            doc = json.loads(self.raw or b"null")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "BadRequest", "couldn't get version/kind; json parse error: "
                           "the body is not valid JSON")
        return doc

    # -- dispatch --

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_OPTIONS(self):
        self.dispatch()

    def dispatch(self):
        self.warnings = []
        try:
            url = urlsplit(self.path)
            self.query = {k: v[-1] for k, v in
                          parse_qs(url.query, keep_blank_values=True).items()}
            parts = [p for p in url.path.split("/") if p]
            # Read every body (a DELETE carries DeleteOptions) so the connection stays in step.
            n = int(self.headers.get("Content-Length") or 0)
            self.raw = self.rfile.read(n) if n > 0 else b""
        except (ValueError, OSError):
            self.close_connection = True
            return self.reply(400, ApiError(400, "BadRequest", "bad request").status())
        try:
            if parts[:1] == ["_fake"]:
                return self.control(parts[1:])
            self.user = self.authenticate()
            if self.user is not None:
                self.user = self.impersonate(self.user)
                self.authorize(self.user, fake_rbac.attributes(self.command, url.path,
                                                               self.query))
            self.route(parts)
        except ApiError as e:
            self.reply(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:  # never a Python exception's text on the wire
            if self.server.verbose:
                import traceback
                traceback.print_exc()
            self.close_connection = True
            try:
                self.reply(500, ApiError(500, "InternalError", "an error on the server "
                                         "(\"internal error\") has prevented the request from "
                                         "succeeding").status())
            except OSError:
                pass

    # -- who asks, and whether they may --

    def authenticate(self):
        """The user the bearer token names, None when the server checks no token (any caller
        may do anything). --token's is an admin (system:masters); a token table's is its
        entry's user (--token-table-auth)."""
        token, table = self.server.token, self.server.table_auth
        if not token and not table:
            return None
        auth = self.headers.get("Authorization", "")
        got = auth[7:] if auth.startswith("Bearer ") else None
        if got is not None and got == token:
            return fake_rbac.user_info({"username": "kubernetes-admin",
                                        "groups": [fake_rbac.SUPERUSER_GROUP]})
        user = self.store.token_user(got) if got is not None and table else None
        if user is not None:
            return fake_rbac.user_info(user)
        raise ApiError(401, "Unauthorized", "Unauthorized")

    def authorize(self, user, a):
        """403 with the real server's Status unless RBAC allows `user` what `a` asks."""
        if fake_rbac.SUPERUSER_GROUP in user["groups"]:
            return  # not even the store's lock (a bench's thousands of watches wait on it)
        with self.store.lock:
            ok, why = fake_rbac.authorize(self.store.rbac, user, a)
        if not ok:
            msg, details = fake_rbac.forbidden(user, a, why)
            # Logged, as an audit log would hold it: what a piece lacks shows in the server's
            # log whatever the piece makes of the 403.
            sys.stderr.write(f"fake_apiserver: forbidden: {msg}\n")
            raise ApiError(403, "Forbidden", msg, details)

    def impersonate(self, user):
        """Impersonate-User and Impersonate-Group (kubectl --as, --as-group): the request runs
        as that user when `user` may impersonate it and each group."""
        asked = fake_rbac.impersonation(self.headers)
        if asked is None:
            if self.headers.get("Impersonate-Group"):
                raise ApiError(500, "InternalError", "requested impersonation of groups "
                               "without impersonating a user")
            return user
        name, groups = asked
        self.authorize(user, fake_rbac.impersonate_attributes("users", name))
        for g in groups:
            self.authorize(user, fake_rbac.impersonate_attributes("groups", g))
        return fake_rbac.impersonated_user(name, groups)

    def access_review(self, kind, doc, av):
        """SelfSubjectAccessReview (what the caller may do: kubectl auth can-i) and
        SubjectAccessReview (what a named user and groups may do)."""
        if not isinstance(doc, dict) or doc.get("kind") != kind:
            raise ApiError(400, "BadRequest", f"the body of the request must be a {kind}")
        spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
        for part in ("resourceAttributes", "nonResourceAttributes"):
            attrs = spec.get(part)
            if attrs is not None and (not isinstance(attrs, dict) or
                                      any(not isinstance(v, str) for v in attrs.values())):
                raise ApiError(400, "BadRequest", f"spec.{part}: every attribute must be a "
                               "string")
        if not isinstance(spec.get("user", ""), str) or \
                not all(isinstance(g, str) for g in spec.get("groups") or []) or \
                not isinstance(spec.get("groups") or [], list):
            raise ApiError(400, "BadRequest", "spec.user must be a string, spec.groups a list "
                           "of strings")
        a = fake_rbac.review_attributes(spec)
        if a is None:
            raise ApiError(422, "Invalid", f'{kind}.authorization.k8s.io "" is invalid: '
                           'spec.resourceAttributes: Invalid value: "null": exactly one of '
                           'nonResourceAttributes or resourceAttributes must be specified',
                           {"group": "authorization.k8s.io", "kind": kind})
        if kind == "SubjectAccessReview":
            if not spec.get("user") and not spec.get("groups"):
                raise ApiError(422, "Invalid", f'{kind}.authorization.k8s.io "" is invalid: '
                               'spec.user: Invalid value: "": at least one of user or group '
                               "must be specified",
                               {"group": "authorization.k8s.io", "kind": kind})
            user = {"username": spec.get("user", ""), "groups": list(spec.get("groups") or []),
                    "extra": {}, "uid": ""}
        else:
            user = self.user
        if user is None:
            ok, why = True, ""
        else:
            with self.store.lock:
                ok, why = fake_rbac.authorize(self.store.rbac, user, a)
        status = {"allowed": ok}
        if why:
            status["reason"] = why
        return {"kind": kind, "apiVersion": av, "metadata": {"creationTimestamp": None},
                "spec": spec, "status": status}

    def control(self, parts):
        if parts == ["healthz"] and self.command == "GET":
            return self.reply(200, {"ok": True, "resourceVersion": str(self.store.rv)})
        if parts == ["compact"] and self.command == "POST":
            return self.reply(200, {"compactedResourceVersion": str(self.store.compact())})
        if parts == ["close-watches"] and self.command == "POST":
            return self.reply(200, {"closed": self.store.close_watches()})
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def openapi(self, parts):
        """/openapi/v2 (JSON, or gnostic's protobuf when the Accept asks for it, as kubectl 1.20
        does) and /openapi/v3 with a document per group-version."""
        if parts == ["openapi", "v2"]:
            doc = fake_kinds.openapi_v2(RESOURCES)
            if "protobuf" in self.headers.get("Accept", ""):
                body = fake_kinds.openapi_v2_protobuf(doc)
                return self.reply_raw(200, body, "application/com.github.proto-openapi.spec."
                                      "v2.v1.0+protobuf")
            return self.reply(200, doc)
        if parts == ["openapi", "v3"]:
            return self.reply(200, fake_kinds.openapi_v3_index(RESOURCES))
        gv = parts[2:]
        doc = None
        if gv[:1] == ["api"] and len(gv) == 2:
            doc = fake_kinds.openapi_v3(RESOURCES, "", gv[1])
        elif gv[:1] == ["apis"] and len(gv) == 3:
            doc = fake_kinds.openapi_v3(RESOURCES, gv[1], gv[2])
        if doc is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return self.reply(200, doc)

    def route(self, parts):
        if self.command == "GET":
            if parts in (["healthz"], ["readyz"], ["livez"]):
                return self.reply_raw(200, b"ok", "text/plain; charset=utf-8")
            if parts[:2] in (["openapi", "v2"], ["openapi", "v3"]):
                return self.openapi(parts)
            if parts == ["version"]:
                return self.reply(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake",
                                        "gitCommit": "0" * 40, "gitTreeState": "clean",
                                        "buildDate": "2024-12-11T00:00:00Z",
                                        "goVersion": "go1.23.4", "compiler": "gc",
                                        "platform": "linux/amd64"})
            if parts == ["api"]:
                return self.reply(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [
                                            {"clientCIDR": "0.0.0.0/0",
                                             "serverAddress": self.server.address}]})
            if parts == ["api", "v1"]:
                return self.reply(200, discovery_resources("", "v1"))
            if parts == ["apis"]:
                groups = sorted({r[0] for r in RESOURCES if r[0]})
                return self.reply(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                        "groups": [discovery_group(g) for g in groups]})
            if len(parts) == 2 and parts[0] == "apis" and any(r[0] == parts[1] for r in RESOURCES):
                return self.reply(200, discovery_group(parts[1]))
            if len(parts) == 3 and parts[0] == "apis" and \
                    any(r[0] == parts[1] and parts[2] in r[1] for r in RESOURCES):
                return self.reply(200, discovery_resources(parts[1], parts[2]))
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if group == "" and len(rest) == 5 and rest[0] == "namespaces" and rest[2] == "pods" and \
                rest[4] in ("log", "exec", "portforward"):
            pod = self.store.get(BY_PATH[("", "v1", "pods")], rest[1], rest[3])
            return fake_streams.serve(self, pod, rest[4], ApiError)
        # [namespaces/NS/]PLURAL[/NAME[/SUBRESOURCE]]; a namespace's own subresources
        # (namespaces/NAME/status) are told from a namespaced path by their length.
        ns, name, self.sub = None, None, None
        if len(rest) >= 3 and rest[0] == "namespaces" and not (len(rest) == 3 and
                                                               rest[2] in ("status", "finalize")):
            ns, rest = rest[1], rest[2:]
        if len(rest) == 3:
            self.sub, rest = rest[2], rest[:2]
        if len(rest) == 2:
            plural, name = rest
        elif len(rest) == 1:
            plural = rest[0]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        res = BY_PATH.get((group, version, plural))
        if res is None or (ns is not None and not res[4]):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if res[4] and ns is None and (name is not None or self.command == "POST"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if self.sub is not None and self.sub not in self.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        self.resource(res, version, "" if not res[4] else ns, name)

    # Subresource name -> method(self, res, av, ns, name). pods/log, exec and portforward are
    # served by fake_streams.py, which adds its handlers here.
    subresources = {}

    def sub_status(self, res, av, ns, name):
        """The status subresource: GET, PUT and PATCH change .status only (as a CRD's with
        subresources, and a Pod's or Deployment's)."""
        cmd = self.command
        if not has_status(res):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if cmd not in ("GET", "PUT", "PATCH"):
            raise method_not_allowed()
        if cmd == "GET":
            return self.reply(200, dict(self.store.get(res, ns, name), apiVersion=av))
        while True:
            cur = self.store.get(res, ns, name)
            if cmd == "PUT":
                body = self.object_body(res, av)
                rv = body.get("metadata", {}).get("resourceVersion")
            else:
                body = self.apply_patch(res, cur)
                rv = None
            new = copy.deepcopy(cur)
            new["status"] = body.get("status", {})
            check_shape(res, new)
            new["metadata"]["resourceVersion"] = rv or cur["metadata"]["resourceVersion"]
            try:
                out = self.store.update(res, ns, name, new)
                return self.reply(200, dict(out, apiVersion=av))
            except ApiError as e:
                if e.code != 409 or rv:
                    raise

    def sub_scale(self, res, av, ns, name):
        """autoscaling/v1 Scale of a Deployment or ReplicaSet: spec.replicas read and written,
        as kubectl scale uses it (GET then PUT in 1.20, PATCH in 1.32)."""
        if res[2] not in ("deployments", "replicasets", "statefulsets"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        cmd = self.command
        if cmd not in ("GET", "PUT", "PATCH"):
            raise method_not_allowed()

        def scale_of(o):
            md = o["metadata"]
            sel = fake_kinds._label_selector((o.get("spec") or {}).get("selector"))
            return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                    "metadata": {k: md[k] for k in ("name", "namespace", "uid",
                                                    "resourceVersion", "creationTimestamp")
                                 if k in md},
                    "spec": {"replicas": (o.get("spec") or {}).get("replicas", 1)},
                    "status": {"replicas": (o.get("status") or {}).get("replicas", 0),
                               "selector": "" if sel == "<none>" else sel}}
        while True:
            cur = self.store.get(res, ns, name)
            if cmd == "GET":
                return self.reply(200, scale_of(cur))
            if cmd == "PUT":
                body = self.body_json()
                if not isinstance(body, dict) or body.get("kind", "Scale") != "Scale":
                    raise ApiError(400, "BadRequest", "the body of the request must be a Scale")
            else:
                body = self.apply_patch(None, scale_of(cur))
            spec = body.get("spec")
            replicas = spec.get("replicas") if isinstance(spec, dict) else None
            if not isinstance(replicas, int) or replicas < 0:
                raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: '
                               f'spec.replicas: Invalid value: {json.dumps(replicas)}: must be '
                               "greater than or equal to 0",
                               {"name": name, "group": "autoscaling", "kind": "Scale"})
            rv = (body.get("metadata") or {}).get("resourceVersion")
            new = copy.deepcopy(cur)
            new.setdefault("spec", {})["replicas"] = replicas
            new["metadata"]["resourceVersion"] = rv or cur["metadata"]["resourceVersion"]
            try:
                out = self.store.update(res, ns, name, new)
                return self.reply(200, scale_of(out))
            except ApiError as e:
                if e.code != 409 or rv:
                    raise

    def sub_token(self, res, av, ns, name):
        """serviceaccounts/NAME/token: a TokenRequest (authentication.k8s.io/v1), as `kubectl
        create token` and istioctl send it. The token is a new random bearer token (shaped as
        the real server's JWT, its claims readable, its signature random: nothing checks it
        but this table) for system:serviceaccount:NS:NAME in system:serviceaccounts and
        system:serviceaccounts:NS, authorized by RBAC as every other token. It is good until
        spec.expirationSeconds (3600 when unset; 600 at least, 2^32 at most) pass, while the
        service account (and spec.boundObjectRef's Pod or Secret, when given) is the object it
        was issued for, and for spec.audiences (the API server's when unset). Issued tokens
        live as long as this server: none is written to the token table's file."""
        if res[2] != "serviceaccounts":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if self.command != "POST":
            raise method_not_allowed()
        doc = self.body_json()
        if not isinstance(doc, dict) or doc.get("kind", "TokenRequest") != "TokenRequest":
            raise ApiError(400, "BadRequest", "the body of the request must be a TokenRequest")
        spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}

        def invalid(field, value, why, what="Invalid value", reason="FieldValueInvalid"):
            msg = f"{what}: {json.dumps(value)}: {why}"
            raise ApiError(422, "Invalid", f'TokenRequest.authentication.k8s.io "{name}" is '
                           f"invalid: {field}: {msg}",
                           {"name": name, "group": "authentication.k8s.io",
                            "kind": "TokenRequest",
                            "causes": [{"reason": reason, "message": msg, "field": field}]})
        seconds = spec.get("expirationSeconds", 3600)
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise ApiError(400, "BadRequest", "json: cannot unmarshal into Go struct field "
                           "TokenRequestSpec.spec.expirationSeconds of type int64")
        if seconds < 600:
            invalid("spec.expirationSeconds", seconds,
                    "may not specify a duration less than 10 minutes")
        if seconds > 1 << 32:
            invalid("spec.expirationSeconds", seconds,
                    "may not specify a duration larger than 2^32 seconds")
        audiences = spec.get("audiences") or [API_AUDIENCE]
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise ApiError(400, "BadRequest", "spec.audiences must be a list of strings")
        sa = self.store.get(res, ns, name)
        objects = [(("", "serviceaccounts", ns, name), sa["metadata"]["uid"])]
        ref = spec.get("boundObjectRef")
        if ref is not None:
            kinds = {"Pod": "pods", "Secret": "secrets"}
            kind = ref.get("kind") if isinstance(ref, dict) else None
            if kind not in kinds or ref.get("apiVersion", "v1") != "v1":
                invalid("spec.boundObjectRef.kind", kind, 'supported values: "Pod", "Secret"',
                        "Unsupported value", "FieldValueNotSupported")
            bound = self.store.get(BY_PATH[("", "v1", kinds[ref["kind"]])], ns,
                                   ref.get("name", ""))
            if ref.get("uid") and ref["uid"] != bound["metadata"]["uid"]:
                raise ApiError(409, "Conflict", f'the UID in the bound object reference '
                               f'({ref["uid"]}) does not match the UID in record. The object '
                               f"might have been deleted and then recreated")
            objects.append((("", kinds[ref["kind"]], ns, bound["metadata"]["name"]),
                            bound["metadata"]["uid"]))
        now = int(time.time())
        jti = str(uuid.uuid4())
        claims = {"aud": audiences, "exp": now + seconds, "iat": now, "iss": API_AUDIENCE,
                  "jti": jti, "kubernetes.io": {
                      "namespace": ns, "serviceaccount": {"name": name,
                                                          "uid": sa["metadata"]["uid"]}},
                  "nbf": now, "sub": f"system:serviceaccount:{ns}:{name}"}

        def b64(raw):
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        compact = (",", ":")
        token = ".".join([b64(json.dumps({"alg": "RS256", "kid": "fake"},
                                         separators=compact).encode()),
                          b64(json.dumps(claims, separators=compact).encode()),
                          b64(os.urandom(64))])
        user = {"username": claims["sub"], "uid": sa["metadata"]["uid"],
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}",
                           fake_rbac.AUTHENTICATED],
                "extra": {"authentication.kubernetes.io/credential-id": [f"JTI={jti}"]}}
        self.store.issue_token(token, user, {"exp": now + seconds, "audiences": audiences,
                                             "objects": objects})
        exp = datetime.datetime.fromtimestamp(now + seconds, datetime.timezone.utc)
        return self.reply(201, {
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
            "spec": {"audiences": audiences, "expirationSeconds": seconds,
                     "boundObjectRef": ref},
            "status": {"token": token, "expirationTimestamp": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}})

    def apply_patch(self, res, cur):
        """`cur` with the request's patch applied, by its Content-Type: merge (RFC 7386),
        strategic merge (the kinds with a schema here; a custom kind has none, as the real
        server's CRDs), JSON patch (RFC 6902). Any other type is 415, as the real server."""
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        schema = fake_kinds.schema_for(res[0], res[1][0], res[3]) if res else \
            {"type": "object"}
        accepted = ["application/json-patch+json", "application/merge-patch+json"]
        if schema is not None:
            accepted.append("application/strategic-merge-patch+json")
        if ctype not in accepted:
            raise ApiError(415, "UnsupportedMediaType", f'the body of the request was in an '
                           f'unknown format - accepted media types include: '
                           f'{", ".join(accepted)}')
        patch = self.body_json()
        if ctype == "application/json-patch+json":
            try:
                out = fake_kinds.json_patch(cur, patch)
            except fake_kinds.PatchError as e:
                raise ApiError(422, "Invalid", f"the server rejected our request due to an "
                               f"error in our request: {e}")
        else:
            if not isinstance(patch, dict):
                raise ApiError(400, "BadRequest", "the body of the request was in an unknown "
                               "format: a merge patch must be a JSON object")
            if ctype == "application/merge-patch+json":
                out = merge_patch(cur, patch)
            else:
                try:
                    out = fake_kinds.strategic_merge(cur, patch, schema)
                except fake_kinds.PatchError as e:
                    raise ApiError(400, "BadRequest", str(e))
        if not isinstance(out, dict) or not isinstance(out.get("metadata"), dict):
            raise ApiError(422, "Invalid", "the patched object is not an object with metadata")
        if res:
            check_shape(res, out)
        return out

    def validate_fields(self, res, obj):
        """fieldValidation: Strict (kubectl 1.32's default) rejects a field the kind's schema
        does not have, Warn (the server's default) drops it with a Warning header, Ignore drops
        it. Custom kinds keep every field (their CRDs preserve unknown fields)."""
        mode = self.query.get("fieldValidation", "Warn")
        if mode not in ("Strict", "Warn", "Ignore"):
            raise ApiError(400, "BadRequest", f'fieldValidation must be one of "Ignore", '
                           f'"Warn", or "Strict", not "{mode}"')
        schema = fake_kinds.schema_for(res[0], res[1][0], res[3])
        if schema is None:
            return
        unknown = fake_kinds.unknown_fields(obj, schema)
        if not unknown:
            return
        msgs = [f'unknown field "{u}"' for u in unknown]
        if mode == "Strict":
            raise ApiError(400, "BadRequest", f'{res[3]} in version "{res[1][0]}" cannot be '
                           f'handled as a {res[3]}: strict decoding error: ' + ", ".join(msgs))
        if mode == "Warn":
            self.warnings += msgs

    def resource(self, res, version, ns, name):
        av = api_version(res[0], version)
        if res[3] == "TokenReview":
            if self.command != "POST" or name:
                raise method_not_allowed()
            return self.reply(201, self.token_review(self.body_json(), av))
        if res[3] in ("SelfSubjectAccessReview", "SubjectAccessReview"):
            if self.command != "POST" or name:
                raise method_not_allowed()
            return self.reply(201, self.access_review(res[3], self.body_json(), av))
        cmd = self.command
        if self.sub is not None:
            if name is None:
                raise ApiError(404, "NotFound", "the server could not find the requested "
                               "resource")
            return self.subresources[self.sub](self, res, av, ns, name)
        if cmd == "GET" and name is None:
            watch = self.query.get("watch", "") in ("1", "true")
            return self.watch(res, av, ns) if watch else self.list(res, av, ns)
        if cmd == "GET":
            return self.reply_object(res, av, self.store.get(res, ns, name))
        if cmd == "POST" and name is None:
            obj = self.object_body(res, av)
            self.validate_fields(res, obj)
            if self.dry_run():
                return self.reply(201, obj)
            return self.reply(201, dict(self.store.create(res, ns, obj), apiVersion=av))
        if cmd == "PUT" and name:
            obj = self.object_body(res, av)
            self.validate_fields(res, obj)
            if self.dry_run():
                return self.reply(200, obj)
            return self.reply(200, dict(self.store.update(res, ns, name, obj,
                                                          keep_status=has_status(res)),
                                        apiVersion=av))
        if cmd == "PATCH" and name:
            # Patches retry on a concurrent write, like the real server's GuaranteedUpdate.
            while True:
                cur = self.store.get(res, ns, name)
                obj = self.apply_patch(res, cur)
                self.warnings = []
                self.validate_fields(res, obj)
                obj["kind"], obj["apiVersion"] = res[3], av
                rv_given = obj["metadata"].get("resourceVersion")
                if rv_given == cur["metadata"]["resourceVersion"]:
                    rv_given = None
                obj["metadata"]["resourceVersion"] = rv_given or \
                    cur["metadata"]["resourceVersion"]
                if self.dry_run():
                    return self.reply(200, obj)
                try:
                    out = self.store.update(res, ns, name, obj, keep_status=has_status(res))
                    return self.reply(200, dict(out, apiVersion=av))
                except ApiError as e:
                    if e.code != 409 or rv_given:
                        raise
        if cmd == "DELETE" and name:
            if self.dry_run():
                return self.reply(200, dict(self.store.get(res, ns, name), apiVersion=av))
            return self.reply(200, dict(self.store.delete(res, ns, name), apiVersion=av))
        if cmd == "DELETE":  # deletecollection
            match = self.selectors(res)
            items = [o for o in self.store.list(res, ns or None)[0] if match(o)]
            for o in items:
                try:
                    self.store.delete(res, o["metadata"].get("namespace", ""),
                                      o["metadata"]["name"])
                except ApiError:
                    pass
            return self.reply(200, {"kind": res[3] + "List", "apiVersion": av,
                                    "metadata": {"resourceVersion": str(self.store.rv)},
                                    "items": items})
        raise method_not_allowed()

    def int_param(self, name, default):
        """An integer query parameter; 400 for anything else, as the real server's decoding."""
        text = self.query.get(name) or ""
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            raise ApiError(400, "BadRequest", f'{name}: Invalid value: "{text}": must be an '
                           "integer")

    def dry_run(self):
        return self.query.get("dryRun") == "All"

    def object_body(self, res, av):
        obj = self.body_json()
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata", {}), dict):
            raise ApiError(400, "BadRequest", "the body of the request must be a JSON object")
        if obj.get("kind", res[3]) != res[3]:
            raise ApiError(400, "BadRequest", f'the kind of the object ({obj.get("kind")}) does '
                           f'not match the resource ({res[3]})')
        obj["kind"], obj["apiVersion"] = res[3], av
        check_shape(res, obj)
        return obj

    def selectors(self, res):
        lab = parse_label_selector(self.query.get("labelSelector", ""))
        fld = parse_field_selector(self.query.get("fieldSelector", ""), res)
        return lambda o: lab(o["metadata"].get("labels") or {}) and fld(o)

    # -- list --

    def list(self, res, av, ns):
        match = self.selectors(res)
        start = ""
        rv = None
        if self.query.get("continue"):
            rv, start = decode_continue(self.query["continue"])
            if rv <= self.store.compacted:
                raise gone("The provided continue parameter is too old to display a consistent "
                           "list result. You can start a new list without the continue "
                           "parameter, or use the continue token in this response to retrieve "
                           "the remainder of the results. Continuing with the provided token "
                           "results in an inconsistent list - objects that were created, "
                           "modified, or deleted between the time the first chunk was returned "
                           "and now may show up in the list.")
        limit = self.int_param("limit", 0)
        keyed, now, more = self.store.list_page(res, ns or None, match, start, limit)
        rv = now if rv is None else rv
        meta = {"resourceVersion": str(rv)}
        if more:
            meta["continue"] = encode_continue(rv, keyed[-1][0])
            meta["remainingItemCount"] = more
        tv = self.table_version()
        if tv:
            return self.reply(200, self.table(res, av, [o for _, o in keyed], tv, meta))
        for _, o in keyed:
            o.pop("apiVersion", None)
            o.pop("kind", None)
        self.reply(200, {"kind": res[3] + "List", "apiVersion": av, "metadata": meta,
                         "items": [dict({"apiVersion": av, "kind": res[3]}, **o)
                                   for _, o in keyed]})

    # -- watch --

    def watch(self, res, av, ns):
        match = self.selectors(res)
        store = self.store
        rv_param = self.query.get("resourceVersion", "")
        timeout = self.int_param("timeoutSeconds", 1800)
        bookmarks = self.query.get("allowWatchBookmarks", "") in ("1", "true")
        deadline = time.monotonic() + timeout

        def in_scope(gp, obj):
            return gp == (res[0], res[2]) and (not ns or obj["metadata"].get("namespace") == ns)

        def send(kind, obj):
            line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()

        tv = self.table_version()

        def view(obj):
            if tv:  # kubectl get -w: each event's object is a Table of one row
                return self.table(res, av, [obj], tv, {
                    "resourceVersion": obj["metadata"].get("resourceVersion", "")})
            return dict({"kind": res[3], "apiVersion": av}, **{k: v for k, v in obj.items()
                                                             if k not in ("kind", "apiVersion")})
        sock = self.connection
        with store.lock:
            epoch = store.watch_epoch
            store.watch_sockets.add(sock)
            if rv_param in ("", "0"):
                initial = [o for o in store.list(res, ns or None)[0] if match(o)]
                pos = store.rv
            else:
                try:
                    pos = int(rv_param)
                except ValueError:
                    pos = -1
                initial = None
        # Registered before the head goes out, so close-watches reaches every watch a client
        # has seen start.
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        try:
            if initial is None and (pos < 0 or pos < store.compacted):
                send("ERROR", ApiError(410, "Expired", f"too old resource version: {rv_param} "
                                       f"({store.compacted})").status())
                return self.end_chunks()
            for o in initial or []:
                send("ADDED", view(o))
            last_bookmark = time.monotonic()
            while True:
                with store.lock:
                    pending = store.events_after(pos)
                    if not pending and store.watch_epoch == epoch:
                        wait = deadline - time.monotonic()
                        if bookmarks:
                            wait = min(wait, last_bookmark + self.server.bookmark_seconds
                                       - time.monotonic())
                        if wait > 0:
                            store.lock.wait(wait)
                        pending = store.events_after(pos)
                    current = store.rv
                if store.watch_epoch != epoch:
                    return  # dropped without the terminating chunk, as a restart does
                for erv, kind, gp, obj, prev in pending:
                    pos = erv
                    if not in_scope(gp, obj):
                        continue
                    now, before = match(obj), prev is not None and match(prev)
                    if kind == "MODIFIED" and now != before:
                        kind = "ADDED" if now else "DELETED"
                    elif not now and not (kind == "DELETED" and before):
                        continue
                    send(kind, view(obj))
                if time.monotonic() >= deadline:
                    return self.end_chunks()
                if bookmarks and time.monotonic() - last_bookmark >= self.server.bookmark_seconds:
                    pos = max(pos, current)
                    send("BOOKMARK", {"kind": res[3], "apiVersion": av,
                                      "metadata": {"resourceVersion": str(pos)}})
                    last_bookmark = time.monotonic()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            with store.lock:
                store.watch_sockets.discard(sock)
            self.close_connection = True

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # -- TokenReview --

    def token_review(self, doc, av):
        if not isinstance(doc, dict) or doc.get("kind") != "TokenReview":
            raise ApiError(400, "BadRequest", "the body of the request must be a TokenReview")
        spec = doc.get("spec") or {}
        user = self.store.token_user(spec.get("token", ""), spec.get("audiences"))
        status = {"authenticated": True, "user": user,
                  "audiences": spec.get("audiences") or [API_AUDIENCE]} \
            if user else {"user": {}, "error": "[invalid bearer token, token lookup failed]"}
        return {"kind": "TokenReview", "apiVersion": av,
                "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}


Handler.subresources = {"status": Handler.sub_status, "scale": Handler.sub_scale,
                        "token": Handler.sub_token}


def serve_fd(srv, fd):
    """Serves srv's API on the listening socket fd too, with its TLS context (ambitctl local up
    --kube binds the host's 127.0.0.1 in the host's netns and hands it down: this server runs in
    the fabric's). The TLS handshake happens in the request's thread, not here."""
    sock = socket.socket(fileno=fd)
    ctx = getattr(srv.socket, "context", None)
    if ctx:
        sock = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    while True:
        try:
            conn, addr = sock.accept()
        except OSError:
            time.sleep(0.05)  # a transient accept error (ECONNABORTED, EMFILE): no busy loop
            continue
        srv.process_request(conn, addr)


def main():
    ap = argparse.ArgumentParser(description="Fake Kubernetes API server for tests")
    ap.add_argument("--listen", required=True, help="HOST:PORT (PORT 0: any free port)")
    ap.add_argument("--token", help="bearer token every request must carry")
    ap.add_argument("--token-table-auth", action="store_true",
                    help="a FakeTokenTable token is a bearer token too (service accounts)")
    ap.add_argument("--load", action="append", default=[], help="JSON object, List or "
                    "FakeTokenTable file, or a directory of them")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--bookmark-seconds", type=float, default=5.0)
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--no-crds", action="store_true", help="start without the custom kinds' "
                    "CustomResourceDefinition objects (as a cluster before they are installed)")
    ap.add_argument("--listen-fd", type=int, action="append", default=[],
                    help="a listening socket inherited: serve on it too (TLS as --listen)")
    ap.add_argument("-v", "--verbose", action="store_true")
    fake_streams.add_args(ap)
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    # "[v6]:PORT", as a URL writes it: the local IPv6 cluster's server has no IPv4 address.
    v6 = host.startswith("[") and host.endswith("]")
    host = host[1:-1] if v6 else host
    store = Store()
    for path in args.load:
        store.load(path)
    store.bootstrap(crds=not args.no_crds)
    ThreadingHTTPServer.daemon_threads = True
    if v6:
        ThreadingHTTPServer.address_family = socket.AF_INET6
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.store, srv.token, srv.verbose = store, args.token, args.verbose
    srv.table_auth = args.token_table_auth
    srv.bookmark_seconds = args.bookmark_seconds
    srv.address = f"[{host}]:{srv.server_address[1]}" if v6 else f"{host}:{srv.server_address[1]}"
    fake_streams.configure(srv, args)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as fh:
            fh.write(str(srv.server_address[1]))
        os.rename(args.port_file + ".tmp", args.port_file)
    for fd in args.listen_fd:
        threading.Thread(target=serve_fd, args=(srv, fd), daemon=True).start()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
