"""What fake_apiserver.py knows of each kind beyond storing it: the OpenAPI schemas it publishes
(v2 as JSON and as the protobuf kubectl 1.20 asks for, v3 per group-version) and validates
writes against (fieldValidation), the Table columns kubectl prints, strategic merge and JSON
patches, and the CustomResourceDefinition objects of the custom kinds it serves.

The core kinds' schemas are written here by hand for the fields the tutorials' manifests use and
their neighbours: an object's properties are closed (an unknown field is reported as a real
server reports it) down to the containers, ports and env; deeper parts (probes, resources,
volumes' sources, affinity) are open. The custom kinds (Istio, Gateway API, ambit) are open
below metadata: x-kubernetes-preserve-unknown-fields.
"""
import copy
import datetime
import hashlib
import json
import re

# ---- schema building blocks; {"$ref": NAME} names an entry of DEFS ----

STR = {"type": "string"}
INT = {"type": "integer", "format": "int32"}
INT64 = {"type": "integer", "format": "int64"}
BOOL = {"type": "boolean"}
ANY = {}  # any value (kubectl's "Arbitrary")
STRMAP = {"type": "object", "additionalProperties": STR}
STRLIST = {"type": "array", "items": STR}
ANYLIST = {"type": "array", "items": ANY}
INT_OR_STR = {"type": "string", "format": "int-or-string"}


def ref(name):
    return {"$ref": name}


def obj(props, required=(), **ext):
    out = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    out.update(ext)
    return out


def merge_list(item, key, strategy="merge"):
    return {"type": "array", "items": item, "x-kubernetes-patch-merge-key": key,
            "x-kubernetes-patch-strategy": strategy}


CORE = "io.k8s.api.core.v1."
APPS = "io.k8s.api.apps.v1."
META = "io.k8s.apimachinery.pkg.apis.meta.v1."

DEFS = {
    META + "ObjectMeta": obj({
        "name": STR, "generateName": STR, "namespace": STR, "selfLink": STR, "uid": STR,
        "resourceVersion": STR, "generation": INT64, "creationTimestamp": STR,
        "deletionTimestamp": STR, "deletionGracePeriodSeconds": INT64, "labels": STRMAP,
        "annotations": STRMAP, "ownerReferences": merge_list(ANY, "uid"),
        "finalizers": dict(STRLIST, **{"x-kubernetes-patch-strategy": "merge"}),
        "managedFields": ANYLIST}),
    META + "LabelSelector": obj({"matchLabels": STRMAP, "matchExpressions": ANYLIST}),
    CORE + "ContainerPort": obj({"containerPort": INT, "name": STR, "protocol": STR,
                                 "hostPort": INT, "hostIP": STR}, ["containerPort"]),
    CORE + "EnvVar": obj({"name": STR, "value": STR, "valueFrom": ANY}, ["name"]),
    CORE + "VolumeMount": obj({"name": STR, "mountPath": STR, "readOnly": BOOL, "subPath": STR,
                               "subPathExpr": STR, "mountPropagation": STR,
                               "recursiveReadOnly": STR}, ["name", "mountPath"]),
    CORE + "Container": obj({
        "name": STR, "image": STR, "command": STRLIST, "args": STRLIST, "workingDir": STR,
        "ports": dict(merge_list(ref(CORE + "ContainerPort"), "containerPort"),
                      **{"x-kubernetes-list-map-keys": ["containerPort", "protocol"]}),
        "envFrom": ANYLIST, "env": merge_list(ref(CORE + "EnvVar"), "name"),
        "resources": ANY, "resizePolicy": ANYLIST, "restartPolicy": STR,
        "volumeMounts": merge_list(ref(CORE + "VolumeMount"), "mountPath"),
        "volumeDevices": ANYLIST, "livenessProbe": ANY, "readinessProbe": ANY,
        "startupProbe": ANY, "lifecycle": ANY, "terminationMessagePath": STR,
        "terminationMessagePolicy": STR, "imagePullPolicy": STR, "securityContext": ANY,
        "stdin": BOOL, "stdinOnce": BOOL, "tty": BOOL}, ["name"]),
    CORE + "Volume": {"type": "object", "required": ["name"]},  # name + one open source
    CORE + "PodSpec": obj({
        "volumes": merge_list(ANY, "name", "merge,retainKeys"),
        "initContainers": merge_list(ref(CORE + "Container"), "name"),
        "containers": merge_list(ref(CORE + "Container"), "name"),
        "ephemeralContainers": merge_list(ANY, "name"), "restartPolicy": STR,
        "terminationGracePeriodSeconds": INT64, "activeDeadlineSeconds": INT64,
        "dnsPolicy": STR, "nodeSelector": STRMAP, "serviceAccountName": STR,
        "serviceAccount": STR, "automountServiceAccountToken": BOOL, "nodeName": STR,
        "hostNetwork": BOOL, "hostPID": BOOL, "hostIPC": BOOL, "shareProcessNamespace": BOOL,
        "securityContext": ANY, "imagePullSecrets": merge_list(ANY, "name"), "hostname": STR,
        "subdomain": STR, "affinity": ANY, "schedulerName": STR, "tolerations": ANYLIST,
        "hostAliases": merge_list(ANY, "ip"), "priorityClassName": STR, "priority": INT,
        "dnsConfig": ANY, "readinessGates": ANYLIST, "runtimeClassName": STR,
        "enableServiceLinks": BOOL, "preemptionPolicy": STR, "overhead": ANY,
        "topologySpreadConstraints": merge_list(ANY, "topologyKey"),
        "setHostnameAsFQDN": BOOL, "os": ANY, "hostUsers": BOOL, "schedulingGates": ANYLIST,
        "resourceClaims": ANYLIST, "resources": ANY}, ["containers"]),
    CORE + "PodTemplateSpec": obj({"metadata": ref(META + "ObjectMeta"),
                                   "spec": ref(CORE + "PodSpec")}),
    APPS + "DeploymentSpec": obj({
        "replicas": INT, "selector": ref(META + "LabelSelector"),
        "template": ref(CORE + "PodTemplateSpec"), "strategy": ANY, "minReadySeconds": INT,
        "revisionHistoryLimit": INT, "paused": BOOL, "progressDeadlineSeconds": INT},
        ["selector", "template"]),
    APPS + "DaemonSetSpec": obj({
        "selector": ref(META + "LabelSelector"), "template": ref(CORE + "PodTemplateSpec"),
        "updateStrategy": ANY, "minReadySeconds": INT, "revisionHistoryLimit": INT},
        ["selector", "template"]),
    APPS + "ReplicaSetSpec": obj({
        "replicas": INT, "minReadySeconds": INT, "selector": ref(META + "LabelSelector"),
        "template": ref(CORE + "PodTemplateSpec")}, ["selector"]),
    CORE + "ServicePort": obj({"name": STR, "protocol": STR, "appProtocol": STR, "port": INT,
                               "targetPort": INT_OR_STR, "nodePort": INT}, ["port"]),
    CORE + "ServiceSpec": obj({
        "ports": dict(merge_list(ref(CORE + "ServicePort"), "port"),
                      **{"x-kubernetes-list-map-keys": ["port", "protocol"]}),
        "selector": STRMAP, "clusterIP": STR, "clusterIPs": STRLIST, "type": STR,
        "externalIPs": STRLIST, "sessionAffinity": STR, "loadBalancerIP": STR,
        "loadBalancerSourceRanges": STRLIST, "externalName": STR,
        "externalTrafficPolicy": STR, "healthCheckNodePort": INT,
        "publishNotReadyAddresses": BOOL, "sessionAffinityConfig": ANY,
        "ipFamilies": STRLIST, "ipFamilyPolicy": STR, "allocateLoadBalancerNodePorts": BOOL,
        "loadBalancerClass": STR, "internalTrafficPolicy": STR, "trafficDistribution": STR}),
}


def top(props):
    return obj(dict({"apiVersion": STR, "kind": STR, "metadata": ref(META + "ObjectMeta")},
                    **props))


# (group, version, kind) -> definition name; the schema is DEFS[name].
TYPED = {
    ("", "v1", "Pod"): (CORE + "Pod", top({"spec": ref(CORE + "PodSpec"), "status": ANY})),
    ("", "v1", "Service"): (CORE + "Service", top({"spec": ref(CORE + "ServiceSpec"),
                                                    "status": ANY})),
    ("", "v1", "ServiceAccount"): (CORE + "ServiceAccount", top({
        "secrets": merge_list(ANY, "name"), "imagePullSecrets": ANYLIST,
        "automountServiceAccountToken": BOOL})),
    ("", "v1", "Namespace"): (CORE + "Namespace", top({"spec": ANY, "status": ANY})),
    ("", "v1", "ConfigMap"): (CORE + "ConfigMap", top({"data": STRMAP, "binaryData": STRMAP,
                                                       "immutable": BOOL})),
    ("", "v1", "Secret"): (CORE + "Secret", top({"data": STRMAP, "stringData": STRMAP,
                                                 "type": STR, "immutable": BOOL})),
    ("apps", "v1", "Deployment"): (APPS + "Deployment", top({
        "spec": ref(APPS + "DeploymentSpec"), "status": ANY})),
    ("apps", "v1", "DaemonSet"): (APPS + "DaemonSet", top({
        "spec": ref(APPS + "DaemonSetSpec"), "status": ANY})),
    ("apps", "v1", "ReplicaSet"): (APPS + "ReplicaSet", top({
        "spec": ref(APPS + "ReplicaSetSpec"), "status": ANY})),
}
for (_g, _v, _k), (_n, _s) in TYPED.items():
    DEFS[_n] = dict(_s, **{"x-kubernetes-group-version-kind":
                           [{"group": _g, "kind": _k, "version": _v}]})

BUILTIN_GROUPS = {"", "apps", "coordination.k8s.io", "discovery.k8s.io",
                  "authentication.k8s.io", "authorization.k8s.io", "rbac.authorization.k8s.io",
                  "apiextensions.k8s.io",
                  "events.k8s.io", "autoscaling"}


def def_name(group, version, kind):
    """The definition name a kind's schema has (typed, open built-in, or custom)."""
    t = TYPED.get((group, version, kind))
    if t:
        return t[0]
    if group in BUILTIN_GROUPS:
        short = {"": "core", "apps": "apps"}.get(group, group.split(".")[0])
        return f"io.k8s.api.{short}.{version}.{kind}"
    return ".".join(reversed(group.split("."))) + f".{version}.{kind}"


def open_schema(group, version, kind):
    """A kind served without a closed schema: metadata is ObjectMeta, the rest is open."""
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
            "properties": {"apiVersion": STR, "kind": STR,
                           "metadata": ref(META + "ObjectMeta")},
            "x-kubernetes-group-version-kind": [{"group": group, "kind": kind,
                                                 "version": version}]}


def schema_for(group, version, kind):
    t = TYPED.get((group, version, kind))
    return DEFS[t[0]] if t else None


def all_defs(resources):
    """Every definition for `resources` [(group, versions, kind)], typed or open."""
    out = dict(DEFS)
    for group, versions, kind in resources:
        for v in versions:
            name = def_name(group, v, kind)
            if name not in out:
                out[name] = open_schema(group, v, kind)
    return out


# ---- the documents ----

def rewrite_refs(node, prefix):
    if isinstance(node, dict):
        return {k: (prefix + v if k == "$ref" else rewrite_refs(v, prefix))
                for k, v in node.items()}
    if isinstance(node, list):
        return [rewrite_refs(v, prefix) for v in node]
    return node


def refs_of(node, defs, seen):
    if isinstance(node, dict):
        if "$ref" in node and node["$ref"] not in seen:
            seen.add(node["$ref"])
            refs_of(defs[node["$ref"]], defs, seen)
        for v in node.values():
            refs_of(v, defs, seen)
    elif isinstance(node, list):
        for v in node:
            refs_of(v, defs, seen)
    return seen


def v2_schema(s):
    """v2 has no preserve-unknown-fields: an open kind is an object with its metadata only
    (kubectl then checks metadata and takes the rest as it is), as the real server publishes a
    CRD that preserves unknown fields."""
    if s.get("x-kubernetes-preserve-unknown-fields"):
        s = {k: v for k, v in s.items() if k not in ("x-kubernetes-preserve-unknown-fields",
                                                     "properties")}
    return s


def path_ops(paths, base, res, version):
    """The operations kubectl's query-parameter check reads: a PATCH (and POST, PUT) on the
    kind's path carrying the fieldValidation parameter."""
    group, plural, kind, namespaced = res[0], res[2], res[3], res[4]
    gvk = {"group": group, "kind": kind, "version": version}
    fv = {"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": True,
          "description": "Strict, Warn or Ignore"}
    dry = {"name": "dryRun", "in": "query", "type": "string", "uniqueItems": True,
           "description": "All: nothing is stored"}
    ns = "namespaces/{namespace}/" if namespaced else ""
    item = {}
    for verb in ("put", "patch", "delete", "get"):
        item[verb] = {"operationId": f"{verb}{kind}",
                      "parameters": [fv, dry] if verb in ("put", "patch") else
                      [dry] if verb == "delete" else [], "x-kubernetes-action": verb,
                      "x-kubernetes-group-version-kind": gvk,
                      "responses": {"200": {"description": "OK"}}}
    paths[f"{base}/{ns}{plural}/{{name}}"] = item
    paths[f"{base}/{ns}{plural}"] = {
        "post": {"operationId": f"create{kind}", "parameters": [fv, dry],
                 "x-kubernetes-action": "post", "x-kubernetes-group-version-kind": gvk,
                 "responses": {"201": {"description": "Created"}}},
        "get": {"operationId": f"list{kind}", "parameters": [], "x-kubernetes-action": "list",
                "x-kubernetes-group-version-kind": gvk,
                "responses": {"200": {"description": "OK"}}}}


def gv_base(group, version):
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def openapi_v2(resources):
    defs = all_defs([(r[0], r[1], r[3]) for r in resources])
    paths = {}
    for r in resources:
        for v in r[1]:
            path_ops(paths, gv_base(r[0], v), r, v)
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.0-fake"},
            "paths": paths,
            "definitions": {n: rewrite_refs(v2_schema(s), "#/definitions/")
                            for n, s in sorted(defs.items())}}


def openapi_v3_index(resources):
    gvs = sorted({(r[0], v) for r in resources for v in r[1]})
    return {"paths": {gv_base(g, v).lstrip("/"): {
        "serverRelativeURL": f"/openapi/v3{gv_base(g, v)}?hash={v3_hash(resources, g, v)}"}
        for g, v in gvs}}


def v3_hash(resources, group, version):
    """The document's own digest, as the real server's: kubectl caches a document by it."""
    doc = json.dumps(openapi_v3(resources, group, version), sort_keys=True).encode()
    return hashlib.sha512(doc).hexdigest()[:128].upper()


def openapi_v3(resources, group, version):
    rs = [r for r in resources if r[0] == group and version in r[1]]
    if not rs:
        return None
    defs = all_defs([(r[0], [version], r[3]) for r in rs])
    want = set()
    for r in rs:
        name = def_name(group, version, r[3])
        want.add(name)
        refs_of(defs[name], defs, want)
    paths = {}
    for r in rs:
        path_ops(paths, gv_base(group, version), r, version)
    for item in paths.values():
        for op in item.values():
            op["parameters"] = [{"name": p["name"], "in": "query", "uniqueItems": True,
                                 "schema": {"type": "string"}} for p in op["parameters"]]
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0-fake"},
            "paths": paths,
            "components": {"schemas": {n: rewrite_refs(defs[n], "#/components/schemas/")
                                       for n in sorted(want)}}}


# ---- the v2 document as protobuf (gnostic's openapi_v2.Document), as kubectl 1.20 reads it ----
# Field numbers of the OpenAPI v2 messages: Document swagger=1 info=2 paths=8 definitions=9;
# Info title=1 version=2; Definitions/Properties: repeated NamedSchema=1 (name=1, value=2);
# Schema $ref=1 description=4 required=19 additionalProperties=21 (AdditionalPropertiesItem:
# schema=1 boolean=2) type=22 (TypeItem: repeated value=1) items=23 (ItemsItem: repeated schema=1)
# properties=25 vendor_extension=31 (NamedAny: name=1, value=2 Any: yaml=2);
# Schema.format=2.

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num, payload):
    """A length-delimited field (wire type 2)."""
    if isinstance(payload, str):
        payload = payload.encode()
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _pb_schema(s):
    out = b""
    if "$ref" in s:
        out += _field(1, s["$ref"])
    if "format" in s:
        out += _field(2, s["format"])
    if "description" in s:
        out += _field(4, s["description"])
    for r in s.get("required", []):
        out += _field(19, r)
    if "additionalProperties" in s:
        ap = s["additionalProperties"]
        out += _field(21, _field(1, _pb_schema(ap)) if isinstance(ap, dict)
                      else _varint(2 << 3) + _varint(1 if ap else 0))
    if "type" in s:
        out += _field(22, _field(1, s["type"]))
    if "items" in s:
        out += _field(23, _field(1, _pb_schema(s["items"])))
    if "properties" in s:
        props = b"".join(_field(1, _field(1, k) + _field(2, _pb_schema(v)))
                         for k, v in s["properties"].items())
        out += _field(25, props)
    for k, v in s.items():
        if k.startswith("x-"):
            out += _field(31, _field(1, k) + _field(2, _field(2, json.dumps(v))))
    return out


def _pb_operation(op):
    """Operation: parameters=8 (ParametersItem parameter=1 -> Parameter non_body_parameter=2 ->
    NonBodyParameter query_parameter_sub_schema=3 -> QueryParameterSubSchema in=2
    description=3 name=4 type=6), vendor_extension=13. kubectl 1.20 reads a PATCH's dryRun
    parameter (its --dry-run=server check) and its x-kubernetes-group-version-kind."""
    out = b""
    for p in op.get("parameters", []):
        q = _field(2, p["in"]) + _field(3, p.get("description", "")) + _field(4, p["name"]) + \
            _field(6, p.get("type", "string"))
        out += _field(8, _field(1, _field(2, _field(3, q))))
    for k, v in op.items():
        if k.startswith("x-"):
            out += _field(13, _field(1, k) + _field(2, _field(2, json.dumps(v))))
    return out


def openapi_v2_protobuf(doc):
    info = _field(1, doc["info"]["title"]) + _field(2, doc["info"]["version"])
    # PathItem: get=2 put=3 post=4 delete=5 patch=8; Paths: path=2 (NamedPathItem name=1 value=2)
    nums = {"get": 2, "put": 3, "post": 4, "delete": 5, "patch": 8}
    paths = b"".join(_field(2, _field(1, path) + _field(2, b"".join(
        _field(nums[verb], _pb_operation(op)) for verb, op in item.items() if verb in nums)))
        for path, item in doc["paths"].items())
    defs = b"".join(_field(1, _field(1, n) + _field(2, _pb_schema(s)))
                    for n, s in doc["definitions"].items())
    return _field(1, doc["swagger"]) + _field(2, info) + _field(8, paths) + _field(9, defs)


# ---- server-side field validation ----

def unknown_fields(value, schema, path="", out=None):
    """The paths of the fields `value` has that `schema` does not name, pruned from `value` as
    the real server drops them (a typed object keeps only its fields)."""
    out = [] if out is None else out
    while "$ref" in schema:
        schema = DEFS[schema["$ref"]]
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return out
    props = schema.get("properties")
    if isinstance(value, dict) and props is not None:
        for k in list(value):
            sub = f"{path}.{k}" if path else k
            if k not in props:
                out.append(sub)
                del value[k]
            else:
                unknown_fields(value[k], props[k], sub, out)
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for k, v in value.items():
            unknown_fields(v, schema["additionalProperties"], f"{path}.{k}", out)
    elif isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            unknown_fields(v, schema["items"], f"{path}[{i}]", out)
    return out


def type_error(value, schema, path=""):
    """The first place `value` has a JSON type its closed schema does not allow, as
    (path, wanted type, value), or None; null is allowed anywhere (it means unset)."""
    while "$ref" in schema:
        schema = DEFS[schema["$ref"]]
    if value is None or schema.get("x-kubernetes-preserve-unknown-fields"):
        return None
    want = schema.get("type")
    ok = {"object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
          "boolean": lambda v: isinstance(v, bool),
          "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "string": lambda v: isinstance(v, str) or (
              schema.get("format") == "int-or-string" and isinstance(v, int)
              and not isinstance(v, bool))}.get(want)
    if ok and not ok(value):
        return path, want, value
    if isinstance(value, dict):
        props = schema.get("properties")
        ap = schema.get("additionalProperties")
        for k, v in value.items():
            sub = props.get(k) if props is not None else ap if isinstance(ap, dict) else None
            err = sub is not None and type_error(v, sub, f"{path}.{k}" if path else k)
            if err:
                return err
    elif isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            err = type_error(v, schema["items"], f"{path}[{i}]")
            if err:
                return err
    return None


# ---- strategic merge patch ----

def _resolve(schema):
    while schema and "$ref" in schema:
        schema = DEFS[schema["$ref"]]
    return schema or {}


def _sub(schema, key):
    s = _resolve(schema)
    props = s.get("properties")
    if props is not None and key in props:
        return props[key]
    ap = s.get("additionalProperties")
    return ap if isinstance(ap, dict) else {}


def strategic_merge(orig, patch, schema):
    """Applies a strategic merge patch as the real server does for the fields kubectl sends
    ($patch replace/delete/merge, $retainKeys, $setElementOrder/, $deleteFromPrimitiveList/,
    lists merged by their x-kubernetes-patch-merge-key)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(orig, dict):
        orig = {}
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    out = dict(orig)
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys") or k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(out.get(field), list):
                out[field] = [x for x in out[field] if x not in v]
            continue
        sub = _sub(schema, k)
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            merged = strategic_merge(out.get(k), v, sub)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list):
            out[k] = _merge_list(out.get(k), v, _resolve(sub),
                                 patch.get(f"$setElementOrder/{k}"))
        else:
            out[k] = v
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(orig, patch, schema, order):
    strategy = schema.get("x-kubernetes-patch-strategy", "")
    key = schema.get("x-kubernetes-patch-merge-key")
    orig = orig if isinstance(orig, list) else []
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [x for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    if "merge" not in strategy.split(","):
        return copy.deepcopy(patch)
    if not key:  # a merged list of scalars: the union, in order
        return orig + [x for x in patch if x not in orig]
    out = [copy.deepcopy(x) for x in orig]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"map: {json.dumps(item)} does not contain declared merge key: "
                             f"{key}")
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict)
                    and x.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
            continue
        if idx is None:
            out.append(strategic_merge({}, item, schema.get("items", {})))
        else:
            out[idx] = strategic_merge(out[idx], item, schema.get("items", {}))
    if isinstance(order, list):
        rank = {json.dumps(o.get(key) if isinstance(o, dict) else o): i
                for i, o in enumerate(order)}
        out.sort(key=lambda x: rank.get(json.dumps(x.get(key)), len(rank)))
    return out


# ---- JSON patch (RFC 6902) ----

class PatchError(Exception):
    pass


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer {path!r} does not start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    for p in parts:
        if isinstance(doc, list):
            try:
                doc = doc[int(p)]
            except (ValueError, IndexError):
                raise PatchError(f"index {p} is out of bounds")
        elif isinstance(doc, dict) and p in doc:
            doc = doc[p]
        else:
            raise PatchError(f"missing value at {p}")
    return doc


def _put(doc, parts, value, replace):
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
            return
        try:
            i = int(last)
        except ValueError:
            raise PatchError(f"index {last} is not a number")
        if not 0 <= i <= len(parent) - replace:
            raise PatchError(f"index {i} is out of bounds")
        if replace:
            parent[i] = value
        else:
            parent.insert(i, value)
    elif isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(f"replace operation does not apply: doc is missing key: /{last}")
        parent[last] = value
    else:
        raise PatchError("the path's parent is not an object or array")


def _remove(doc, parts):
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    try:
        if isinstance(parent, list):
            return parent.pop(int(last))
        return parent.pop(last)
    except (ValueError, IndexError, KeyError, AttributeError, TypeError):
        raise PatchError(f"unable to remove nonexistent key: {last}: missing value")


def json_patch(doc, ops):
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    for op in ops:
        if not isinstance(op, dict) or not isinstance(op.get("path"), str):
            raise PatchError("an operation needs op and path")
        kind, parts = op.get("op"), _pointer(op["path"])
        if kind in ("add", "replace") and "value" not in op:
            raise PatchError(f"{kind} operation needs a value")
        if not parts:
            if kind in ("add", "replace"):
                doc = copy.deepcopy(op["value"])
                continue
            raise PatchError("the root cannot be removed or moved")
        if kind == "add":
            _put(doc, parts, copy.deepcopy(op["value"]), False)
        elif kind == "replace":
            _put(doc, parts, copy.deepcopy(op["value"]), True)
        elif kind == "remove":
            _remove(doc, parts)
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            val = _remove(doc, src) if kind == "move" else copy.deepcopy(_walk(doc, src))
            _put(doc, parts, val, False)
        elif kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise PatchError(f"testing value {op['path']} failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return doc


# ---- Tables ----

def human_duration(seconds):
    """k8s.io/apimachinery's duration.HumanDuration, as the server renders an AGE cell."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m" if s % 60 == 0 else f"{m}m{s % 60}s"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h" if m % 60 == 0 else f"{h}h{m % 60}m"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d" if h % 24 == 0 else f"{h // 24}d{h % 24}h"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        dy = (h // 24) % 365
        return f"{h // (24 * 365)}y" if dy == 0 else f"{h // (24 * 365)}y{dy}d"
    return f"{h // (24 * 365)}y"


def age(ts):
    if not ts:
        return "<unknown>"
    try:
        t = datetime.datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())


def _g(o, *path, default=None):
    for p in path:
        if not isinstance(o, dict) or p not in o:
            return default
        o = o[p]
    return o


def _age(o):
    return age(_g(o, "metadata", "creationTimestamp"))


def _none(v):
    return v if v not in (None, "", []) else "<none>"


def _selector(m):
    return ",".join(f"{k}={v}" for k, v in sorted((m or {}).items())) or "<none>"


def _pod_row(o):
    spec, st = o.get("spec") or {}, o.get("status") or {}
    cs = st.get("containerStatuses") or []
    reason = st.get("reason") or st.get("phase") or "Pending"
    for c in cs:
        w = _g(c, "state", "waiting", "reason")
        t = _g(c, "state", "terminated", "reason")
        if w or t:
            reason = w or t
    if _g(o, "metadata", "deletionTimestamp"):
        reason = "Terminating"
    gates = spec.get("readinessGates") or []
    return [f'{sum(1 for c in cs if c.get("ready"))}/{len(spec.get("containers") or [])}',
            reason, sum(int(c.get("restartCount") or 0) for c in cs), _age(o),
            _none(st.get("podIP")), _none(spec.get("nodeName")),
            _none(st.get("nominatedNodeName")),
            "<none>" if not gates else f"0/{len(gates)}"]


def _ports(ports):
    out = []
    for p in ports or []:
        s = str(p.get("port"))
        if p.get("nodePort"):
            s += f':{p["nodePort"]}'
        out.append(f'{s}/{p.get("protocol") or "TCP"}')
    return ",".join(out) or "<none>"


def _svc_row(o):
    spec = o.get("spec") or {}
    typ = spec.get("type") or "ClusterIP"
    ext = spec.get("externalIPs") or []
    if typ == "LoadBalancer":
        ing = _g(o, "status", "loadBalancer", "ingress", default=[]) or []
        ext = ext + [i.get("ip") or i.get("hostname") for i in ing]
        ext_s = ",".join(x for x in ext if x) or "<pending>"
    elif typ == "ExternalName":
        ext_s = spec.get("externalName") or "<none>"
    else:
        ext_s = ",".join(ext) or "<none>"
    return [typ, spec.get("clusterIP") or "<none>", ext_s, _ports(spec.get("ports")), _age(o),
            _selector(spec.get("selector"))]


def _containers(o):
    cs = _g(o, "spec", "template", "spec", "containers", default=[]) or []
    return [",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)]


def _deploy_row(o):
    st = o.get("status") or {}
    want = _g(o, "spec", "replicas", default=1)
    return [f'{st.get("readyReplicas") or 0}/{want}', st.get("updatedReplicas") or 0,
            st.get("availableReplicas") or 0, _age(o)] + _containers(o) + \
        [_label_selector(_g(o, "spec", "selector"))]


def _label_selector(sel):
    sel = sel or {}
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op = e.get("operator", "")
        vals = ",".join(e.get("values") or [])
        parts.append({"In": f'{e.get("key")} in ({vals})', "NotIn": f'{e.get("key")} notin ({vals})',
                      "Exists": e.get("key"), "DoesNotExist": f'!{e.get("key")}'}.get(op, ""))
    return ",".join(parts) or "<none>"


def _ds_row(o):
    st = o.get("status") or {}
    ns = _g(o, "spec", "template", "spec", "nodeSelector")
    return [st.get("desiredNumberScheduled") or 0, st.get("currentNumberScheduled") or 0,
            st.get("numberReady") or 0, st.get("updatedNumberScheduled") or 0,
            st.get("numberAvailable") or 0, _selector(ns), _age(o)] + _containers(o) + \
        [_label_selector(_g(o, "spec", "selector"))]


def _rs_row(o):
    st = o.get("status") or {}
    return [_g(o, "spec", "replicas", default=1), st.get("replicas") or 0,
            st.get("readyReplicas") or 0, _age(o)] + _containers(o) + \
        [_label_selector(_g(o, "spec", "selector"))]


def _node_row(o):
    conds = {c.get("type"): c.get("status") for c in _g(o, "status", "conditions", default=[])
             or []}
    status = {"True": "Ready", "False": "NotReady"}.get(conds.get("Ready"), "Unknown")
    if _g(o, "spec", "unschedulable"):
        status += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in (_g(o, "metadata", "labels") or {})
                   if k.startswith("node-role.kubernetes.io/"))
    addrs = _g(o, "status", "addresses", default=[]) or []
    info = _g(o, "status", "nodeInfo", default={}) or {}

    def addr(t):
        return next((a.get("address") for a in addrs if a.get("type") == t), "<none>")
    return [status, ",".join(roles) or "<none>", _age(o), info.get("kubeletVersion", ""),
            addr("InternalIP"), addr("ExternalIP"), info.get("osImage", "<unknown>"),
            info.get("kernelVersion", "<unknown>"), info.get("containerRuntimeVersion",
                                                              "<unknown>")]


def _event_row(o):
    inv = o.get("involvedObject") or o.get("regarding") or {}
    last = o.get("lastTimestamp") or o.get("eventTime") or o.get("deprecatedLastTimestamp") \
        or _g(o, "metadata", "creationTimestamp")
    first = o.get("firstTimestamp") or o.get("eventTime") or last
    src = o.get("source") or {}
    return [age(last), o.get("type", ""), o.get("reason", ""),
            f'{(inv.get("kind") or "").lower()}/{inv.get("name", "")}', inv.get("fieldPath", ""),
            ", ".join(x for x in (src.get("component") or o.get("reportingController"),
                                  src.get("host")) if x), o.get("message") or o.get("note", ""),
            age(first), o.get("count") or 1, _g(o, "metadata", "name")]


def _crb_row(o):
    subj = o.get("subjects") or []

    def names(kind):
        return ",".join((f'{s.get("namespace")}/' if kind == "ServiceAccount" else "")
                        + s.get("name", "") for s in subj if s.get("kind") == kind)
    return [f'{_g(o, "roleRef", "kind")}/{_g(o, "roleRef", "name")}', _age(o), names("User"),
            names("Group"), names("ServiceAccount")]


def col(name, typ="string", priority=0, fmt="", desc=None):
    return {"name": name, "type": typ, "format": fmt, "priority": priority,
            "description": desc or name}


NAME = col("Name", fmt="name", desc="Name must be unique within a namespace.")
AGE = col("Age", desc="CreationTimestamp is a timestamp representing the server time when "
          "this object was created.")
WIDE_WORKLOAD = [col("Containers", priority=1), col("Images", priority=1),
                 col("Selector", priority=1)]

# kind -> (columns after NAME, row function returning the cells after NAME)
BUILTIN_TABLES = {
    "Pod": ([col("Ready"), col("Status"), col("Restarts", "string"), AGE,
             col("IP", priority=1), col("Node", priority=1), col("Nominated Node", priority=1),
             col("Readiness Gates", priority=1)], _pod_row),
    "Service": ([col("Type"), col("Cluster-IP"), col("External-IP"), col("Port(s)"), AGE,
                 col("Selector", priority=1)], _svc_row),
    "Deployment": ([col("Ready"), col("Up-to-date", "integer"), col("Available", "integer"),
                    AGE] + WIDE_WORKLOAD, _deploy_row),
    "DaemonSet": ([col("Desired", "integer"), col("Current", "integer"), col("Ready", "integer"),
                   col("Up-to-date", "integer"), col("Available", "integer"),
                   col("Node Selector"), AGE] + WIDE_WORKLOAD, _ds_row),
    "ReplicaSet": ([col("Desired", "integer"), col("Current", "integer"),
                    col("Ready", "integer"), AGE] + WIDE_WORKLOAD, _rs_row),
    "Namespace": ([col("Status"), AGE],
                  lambda o: [_g(o, "status", "phase") or "Active", _age(o)]),
    "Node": ([col("Status"), col("Roles"), AGE, col("Version"),
              col("Internal-IP", priority=1), col("External-IP", priority=1),
              col("OS-Image", priority=1), col("Kernel-Version", priority=1),
              col("Container-Runtime", priority=1)], _node_row),
    # An Event's name is the last column, shown with -o wide only, as the real printer has it.
    "Event": ([col("Last Seen"), col("Type"), col("Reason"), col("Object"),
               col("Subobject", priority=1), col("Source", priority=1), col("Message"),
               col("First Seen", priority=1), col("Count", "integer", priority=1),
               col("Name", priority=1)], _event_row),
    "ServiceAccount": ([col("Secrets", "string"), AGE],
                       lambda o: [len(o.get("secrets") or []), _age(o)]),
    "Secret": ([col("Type"), col("Data", "string"), AGE],
               lambda o: [o.get("type") or "Opaque", len(o.get("data") or {}), _age(o)]),
    "ConfigMap": ([col("Data", "string"), AGE],
                  lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                             _age(o)]),
    "CustomResourceDefinition": ([col("Created At", "date")],
                                 lambda o: [_g(o, "metadata", "creationTimestamp")]),
    "ClusterRole": ([col("Created At", "date")],
                    lambda o: [_g(o, "metadata", "creationTimestamp")]),
    "Role": ([col("Created At", "date")], lambda o: [_g(o, "metadata", "creationTimestamp")]),
    "ClusterRoleBinding": ([col("Role"), AGE, col("Users", priority=1),
                            col("Groups", priority=1), col("ServiceAccounts", priority=1)],
                           _crb_row),
    "RoleBinding": ([col("Role"), AGE, col("Users", priority=1), col("Groups", priority=1),
                     col("ServiceAccounts", priority=1)], _crb_row),
    "Lease": ([col("Holder"), AGE],
              lambda o: [_g(o, "spec", "holderIdentity") or "", _age(o)]),
    "EndpointSlice": ([col("AddressType"), col("Ports"), col("Endpoints"), AGE],
                      lambda o: [o.get("addressType", ""),
                                 ",".join(str(p.get("port")) for p in o.get("ports") or [])
                                 or "<unset>",
                                 ",".join(a for e in o.get("endpoints") or []
                                          for a in e.get("addresses") or []) or "<unset>",
                                 _age(o)]),
}

# The additionalPrinterColumns the custom kinds' CRDs declare (Istio's, the Gateway API's):
# (name, type, jsonPath, priority, description). Age is the CRD default when none.
_AGE_COL = ("Age", "date", ".metadata.creationTimestamp", 0,
            "CreationTimestamp is a timestamp representing the server time when this object was "
            "created. It is not guaranteed to be set in happens-before order across separate "
            "operations. Clients may not set this value. It is represented in RFC3339 form and "
            "is in UTC. Populated by the system. Read-only. Null for lists. More info: "
            "https://git.k8s.io/community/contributors/devel/sig-architecture/"
            "api-conventions.md#metadata")
PRINTER_COLUMNS = {
    ("networking.istio.io", "VirtualService"): [
        ("Gateways", "string", ".spec.gateways", 0, "The names of gateways and sidecars that "
         "should apply these routes"),
        ("Hosts", "string", ".spec.hosts", 0, "The destination hosts to which traffic is being "
         "sent"), _AGE_COL],
    ("networking.istio.io", "DestinationRule"): [
        ("Host", "string", ".spec.host", 0, "The name of a service from the service registry"),
        _AGE_COL],
    ("networking.istio.io", "Gateway"): [_AGE_COL],
    ("networking.istio.io", "ServiceEntry"): [
        ("Hosts", "string", ".spec.hosts", 0, "The hosts associated with the ServiceEntry"),
        ("Location", "string", ".spec.location", 0, "Whether the service is external to the "
         "mesh or part of the mesh (MESH_EXTERNAL or MESH_INTERNAL)"),
        ("Resolution", "string", ".spec.resolution", 0, "Service resolution mode for the hosts "
         "(NONE, STATIC, or DNS)"), _AGE_COL],
    ("security.istio.io", "AuthorizationPolicy"): [
        ("Action", "string", ".spec.action", 0, "The operation to take."), _AGE_COL],
    ("security.istio.io", "PeerAuthentication"): [
        ("Mode", "string", ".spec.mtls.mode", 0, "Defines the mTLS mode used for peer "
         "authentication."), _AGE_COL],
    ("gateway.networking.k8s.io", "Gateway"): [
        ("Class", "string", ".spec.gatewayClassName", 0, ""),
        ("Address", "string", ".status.addresses[*].value", 0, ""),
        ("Programmed", "string", '.status.conditions[?(@.type=="Programmed")].status', 0, ""),
        _AGE_COL],
    ("gateway.networking.k8s.io", "HTTPRoute"): [
        ("Hostnames", "string", ".spec.hostnames", 0, ""), _AGE_COL],
    ("gateway.networking.k8s.io", "GRPCRoute"): [
        ("Hostnames", "string", ".spec.hostnames", 0, ""), _AGE_COL],
    ("gateway.networking.k8s.io", "TLSRoute"): [
        ("Hostnames", "string", ".spec.hostnames", 0, ""), _AGE_COL],
}


def jsonpath_cell(o, path):
    """The few JSONPath forms the printer columns use: .a.b, [*], [?(@.k=="v")]."""
    cur = [o]
    for part in re.findall(r'\.([A-Za-z0-9_-]+)|\[(\*|\?\(@\.\w+=="[^"]*"\))\]', path):
        name, sel = part
        nxt = []
        for c in cur:
            if name:
                if isinstance(c, dict) and name in c:
                    nxt.append(c[name])
            elif sel == "*":
                if isinstance(c, list):
                    nxt.extend(c)
            else:
                k, v = re.match(r'\?\(@\.(\w+)=="([^"]*)"\)', sel).groups()
                if isinstance(c, list):
                    nxt.extend(x for x in c if isinstance(x, dict) and x.get(k) == v)
        cur = nxt
    if not cur:
        return None
    vals = [json.dumps(v, separators=(",", ":")) if isinstance(v, (dict, list)) else
            ("true" if v is True else "false" if v is False else str(v)) for v in cur]
    return " ".join(vals)


def custom_columns(group, kind):
    return PRINTER_COLUMNS.get((group, kind), [_AGE_COL])


def table_columns(res):
    """The column definitions of a resource tuple's Table, NAME first."""
    if res[0] in BUILTIN_GROUPS:
        cols = BUILTIN_TABLES.get(res[3], ([AGE], lambda o: [_age(o)]))[0]
        return cols if res[3] == "Event" else [NAME] + cols
    return [NAME] + [col(n, t, p, desc=d) for n, t, _, p, d in custom_columns(res[0], res[3])]


def table_row(res, o):
    if res[0] in BUILTIN_GROUPS:
        fn = BUILTIN_TABLES.get(res[3], ([AGE], lambda o: [_age(o)]))[1]
        return fn(o) if res[3] == "Event" else [o["metadata"]["name"]] + fn(o)
    cells = [o["metadata"]["name"]]
    for _, typ, path, _, _ in custom_columns(res[0], res[3]):
        v = jsonpath_cell(o, path)
        cells.append(age(v) if typ == "date" and v else v)
    return cells


# ---- the CRD objects of the custom kinds ----

def crd_objects(resources):
    """One CustomResourceDefinition per custom resource, as `kubectl get crd` lists them."""
    out = []
    for r in resources:
        if r[0] in BUILTIN_GROUPS:
            continue
        group, versions, plural, kind, namespaced, _, short = r[:7]
        cols = custom_columns(group, kind)
        vers = []
        for i, v in enumerate(versions):
            vers.append({"name": v, "served": True, "storage": i == 0,
                         "schema": {"openAPIV3Schema": {
                             "type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                         "subresources": {"status": {}},
                         "additionalPrinterColumns": [
                             {"name": n, "type": t, "jsonPath": p,
                              **({"priority": pr} if pr else {}),
                              **({"description": d} if d else {})}
                             for n, t, p, pr, d in cols]})
        names = {"plural": plural, "singular": kind.lower(), "kind": kind,
                 "listKind": kind + "List"}
        if short:
            names["shortNames"] = list(short)
        cats = categories(r)
        if cats:
            names["categories"] = cats
        out.append({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": {"name": f"{plural}.{group}",
                                 "labels": {"app.kubernetes.io/managed-by": "fake-apiserver"}},
                    "spec": {"group": group, "names": names,
                             "scope": "Namespaced" if namespaced else "Cluster",
                             "versions": vers},
                    "status": {"acceptedNames": names, "storedVersions": [versions[0]],
                               "conditions": [{"type": "Established", "status": "True",
                                               "reason": "InitialNamesAccepted"}]}})
    return out


ALL = {("", "pods"), ("", "services"), ("apps", "deployments"), ("apps", "daemonsets"),
       ("apps", "replicasets"), ("apps", "statefulsets"), ("", "replicationcontrollers"),
       ("batch", "jobs"), ("batch", "cronjobs"), ("autoscaling", "horizontalpodautoscalers")}


def categories(res):
    """The discovery categories of a resource: kubectl get all reads "all"."""
    if (res[0], res[2]) in ALL:
        return ["all"]
    if res[0].endswith("istio.io"):
        return ["istio-io", res[0].split(".")[0] + "-istio-io"]
    if res[0] == "gateway.networking.k8s.io":
        return ["gateway-api"]
    return []


# ---- the Kubernetes protobuf encoding, for the few bodies kubectl sends in it ----
# kubectl 1.32's typed client (kubectl create namespace|configmap|secret|serviceaccount) POSTs
# application/vnd.kubernetes.protobuf and does not fall back to JSON on a 415. The envelope is
# "k8s\0" then runtime.Unknown (typeMeta=1 {apiVersion=1, kind=2}, raw=2); raw is the kind's
# message. ObjectMeta: name=1 generateName=2 namespace=3 uid=5 labels=11 annotations=12
# finalizers=14 (maps are repeated {key=1, value=2}). Namespace: metadata=1
# spec=2 {finalizers=1}; ConfigMap: metadata=1 data=2 binaryData=3 immutable=4; Secret:
# metadata=1 data=2 type=3 stringData=4 immutable=5; ServiceAccount: metadata=1
# automountServiceAccountToken=4.

def _pb_fields(buf):
    """{field number: [values]}: bytes for length-delimited fields, ints for varints."""
    out, i = {}, 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _read_varint(buf, i)
        elif wt == 2:
            n, i = _read_varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated")
            val, i = buf[i:i + n], i + n
        elif wt == 1:
            val, i = buf[i:i + 8], i + 8
        elif wt == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type")
        out.setdefault(num, []).append(val)
    return out


def _read_varint(buf, i):
    n = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _pb_map(entries, as_bytes=False):
    out = {}
    for e in entries:
        f = _pb_fields(e)
        val = f.get(2, [b""])[0]
        out[f.get(1, [b""])[0].decode()] = val if as_bytes else val.decode()
    return out


def _pb_meta(buf):
    f = _pb_fields(buf)
    md = {}
    for num, key in ((1, "name"), (2, "generateName"), (3, "namespace"), (5, "uid")):
        if f.get(num) and f[num][0]:
            md[key] = f[num][0].decode()
    if f.get(11):
        md["labels"] = _pb_map(f[11])
    if f.get(12):
        md["annotations"] = _pb_map(f[12])
    if f.get(14):
        md["finalizers"] = [x.decode() for x in f[14]]
    return md


def _pb_access_review_spec(spec):
    """A (Self)SubjectAccessReviewSpec (kubectl auth can-i sends one in protobuf): the resource
    or non-resource attributes, and a SubjectAccessReview's user and groups."""
    def text(v):
        if not isinstance(v, bytes):
            raise ValueError("a string field with another wire type")
        return v.decode()

    def message(v):
        return _pb_fields(v) if isinstance(v, bytes) else {}

    out = {}
    if spec.get(1):
        ra = message(spec[1][0])
        out["resourceAttributes"] = {
            k: text(ra[i][0]) for i, k in enumerate(
                ("namespace", "verb", "group", "version", "resource", "subresource", "name"),
                1) if ra.get(i)}
    if spec.get(2):
        nra = message(spec[2][0])
        out["nonResourceAttributes"] = {k: text(nra[i][0])
                                        for i, k in ((1, "path"), (2, "verb")) if nra.get(i)}
    if spec.get(3):
        out["user"] = text(spec[3][0])
    if spec.get(4):
        out["groups"] = [text(g) for g in spec[4]]
    return out


def decode_k8s_protobuf(body):
    """The JSON form of a protobuf-encoded Namespace, ConfigMap, Secret, ServiceAccount or
    (Self)SubjectAccessReview; ValueError for anything else."""
    import base64
    if not body.startswith(b"k8s\x00"):
        raise ValueError("no k8s protobuf magic")
    unk = _pb_fields(body[4:])
    tm = _pb_fields(unk.get(1, [b""])[0])
    av = tm.get(1, [b""])[0].decode()
    kind = tm.get(2, [b""])[0].decode()
    f = _pb_fields(unk.get(2, [b""])[0])
    obj = {"apiVersion": av, "kind": kind, "metadata": _pb_meta(f.get(1, [b""])[0])}
    if (av, kind) == ("v1", "Namespace"):
        spec = _pb_fields(f.get(2, [b""])[0])
        if spec.get(1):
            obj["spec"] = {"finalizers": [x.decode() for x in spec[1]]}
    elif (av, kind) == ("v1", "ConfigMap"):
        if f.get(2):
            obj["data"] = _pb_map(f[2])
        if f.get(3):
            obj["binaryData"] = {k: base64.b64encode(v).decode()
                                 for k, v in _pb_map(f[3], True).items()}
        if f.get(4):
            obj["immutable"] = bool(f[4][0])
    elif (av, kind) == ("v1", "Secret"):
        if f.get(2):
            obj["data"] = {k: base64.b64encode(v).decode()
                           for k, v in _pb_map(f[2], True).items()}
        if f.get(3):
            obj["type"] = f[3][0].decode()
        if f.get(4):
            obj["stringData"] = _pb_map(f[4])
        if f.get(5):
            obj["immutable"] = bool(f[5][0])
    elif (av, kind) == ("v1", "ServiceAccount"):
        if f.get(4):
            obj["automountServiceAccountToken"] = bool(f[4][0])
    elif av == "authorization.k8s.io/v1" and kind in ("SelfSubjectAccessReview",
                                                       "SubjectAccessReview"):
        spec = f.get(2, [b""])[0]
        obj["spec"] = _pb_access_review_spec(_pb_fields(spec) if isinstance(spec, bytes) else {})
    else:
        raise ValueError(f"{av}/{kind} is not read in protobuf")
    return obj
