#!/usr/bin/python3
"""Checks Kubernetes manifests offline against the API's own models (Debian's python3-kubernetes):
every field of every object must be one its kind's schema has, with the type it has there, and
every field the schema requires must be present. A misspelt field (a kind the API server would
answer with "unknown field"), a string where a number goes, a missing container name: each is
named with its path.

    validate_manifests.py FILE.yaml...     exit 0 when all pass, 1 otherwise
"""
import json
import re
import sys

import yaml

import kubernetes.client as kc
from kubernetes.client import ApiClient

KINDS = {("v1", "Namespace"): "V1Namespace", ("v1", "ServiceAccount"): "V1ServiceAccount",
         ("v1", "Service"): "V1Service", ("v1", "ConfigMap"): "V1ConfigMap",
         ("v1", "Secret"): "V1Secret", ("apps/v1", "Deployment"): "V1Deployment",
         ("apps/v1", "DaemonSet"): "V1DaemonSet",
         ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
         ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
         ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
         ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
         ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): "V1CustomResourceDefinition"}


def check(value, typ, path, errors):
    if typ in ("str",):
        if not isinstance(value, str):
            errors.append(f"{path}: want a string, got {json.dumps(value)}")
        return
    if typ == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: want an integer, got {json.dumps(value)}")
        return
    if typ == "bool":
        if not isinstance(value, bool):
            errors.append(f"{path}: want true or false, got {json.dumps(value)}")
        return
    if typ in ("object", "datetime"):
        return
    m = re.fullmatch(r"list\[(.*)\]", typ)
    if m:
        if not isinstance(value, list):
            errors.append(f"{path}: want a list")
            return
        for i, v in enumerate(value):
            check(v, m.group(1), f"{path}[{i}]", errors)
        return
    m = re.fullmatch(r"dict\(str, (.*)\)", typ)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{path}: want a map")
            return
        for k, v in value.items():
            check(v, m.group(1), f"{path}.{k}", errors)
        return
    model = getattr(kc, typ)
    if not isinstance(value, dict):
        errors.append(f"{path}: want a {typ} map")
        return
    json_to_attr = {j: a for a, j in model.attribute_map.items()}
    for k, v in value.items():
        if k not in json_to_attr:
            errors.append(f"{path}.{k}: unknown field for {typ}")
            continue
        check(v, model.openapi_types[json_to_attr[k]], f"{path}.{k}", errors)


def main(files):
    failed = False
    for f in files:
        with open(f) as fh:
            docs = list(yaml.safe_load_all(fh))
        for i, doc in enumerate(docs):
            if doc is None:
                continue
            key = (doc.get("apiVersion"), doc.get("kind"))
            name = f"{f}: document {i + 1} ({key[1]} {doc.get('metadata', {}).get('name')})"
            if key not in KINDS:
                print(f"{name}: no model for {key[0]} {key[1]}")
                failed = True
                continue
            errors = []
            check(doc, KINDS[key], key[1], errors)
            # The models' constructors refuse what the schema requires and is absent.
            if not errors:
                try:
                    ApiClient()._ApiClient__deserialize(doc, KINDS[key])
                except ValueError as e:
                    errors.append(str(e))
            for e in errors:
                print(f"{name}: {e}")
            failed |= bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
