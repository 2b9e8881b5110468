"""RBAC for fake_apiserver.py, deciding as the kube-apiserver's authorizers do.

What a request asks is worked out from its method, path and query as the server's RequestInfo
resolver does (k8s.io/apiserver/pkg/endpoints/request): a resource request is
/api/v1/... or /apis/GROUP/VERSION/... with at least a resource; anything else (discovery,
/version, /healthz, /openapi/...) is a non-resource request whose verb is the lowercased
method. A GET with no name is `list`, or `watch` with ?watch=1; a list or watch whose
fieldSelector requires metadata.name=X names X (so a rule with resourceNames can allow it); a
DELETE with no name is `deletecollection`; namespaces/NAME is in the namespace NAME.

Then: the group system:masters may do anything (the privileged-groups authorizer in front of
RBAC); otherwise every ClusterRoleBinding that applies to the user grants its ClusterRole's
rules everywhere, and every RoleBinding of the request's namespace grants its Role's or
ClusterRole's rules in that namespace only. Roles and bindings are read from the store at each
request, so an apply takes effect at once. A binding whose role is missing is skipped, and the
denial names it as the real authorizer's reason does.

Not modelled: ClusterRole aggregation (aggregationRule), the escalation checks on writes of
roles and bindings (the bind and escalate verbs), the Node authorizer, and the default
roles beyond discovery's and cluster-admin (admin, edit, view, the controllers' system: roles).
"""

SUPERUSER_GROUP = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
RBAC_GROUP = "rbac.authorization.k8s.io"
SA_PREFIX = "system:serviceaccount:"

# The namespace subresources a path namespaces/NAME/X means (not a namespaced resource X).
NAMESPACE_SUBRESOURCES = ("status", "finalize")


def query_bool(text):
    """A boolean query parameter as the server decodes one (Convert_Slice_string_To_bool):
    absent, "0" and "false" (any case) are false, anything else true."""
    return text is not None and text != "0" and text.lower() != "false"


def valid_path_segment(name):
    return name not in ("", ".", "..") and "/" not in name and "%" not in name


def field_selector_name(text):
    """The X of a field selector requiring metadata.name=X (or ==X), else None."""
    for term in (text or "").split(","):
        term = term.strip()
        if "!=" in term:
            continue
        key, sep, value = term.partition("==") if "==" in term else term.partition("=")
        if sep and key.strip() == "metadata.name":
            return value.strip()
    return None


def attributes(method, path, query):
    """What a request asks, as RequestInfo resolves it: a dict with verb, path and, for a
    resource request, group, version, resource, subresource, namespace and name.
    `query` maps each parameter to its value (the last one given)."""
    a = {"resource_request": False, "path": path, "verb": method.lower(), "group": "",
         "version": "", "resource": "", "subresource": "", "namespace": "", "name": ""}
    parts = [p for p in path.split("/") if p]
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return a
    if parts[0] == "apis":
        if len(parts) < 4:
            return a
        a["group"], parts = parts[1], parts[2:]
    else:
        parts = parts[1:]
    a["resource_request"] = True
    a["version"], parts = parts[0], parts[1:]
    if parts[0] in ("watch", "proxy"):  # the deprecated /watch/... and /proxy/... forms
        a["verb"], parts = parts[0], parts[1:]
        if not parts:
            return a
    else:
        a["verb"] = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update",
                     "PATCH": "patch", "DELETE": "delete"}.get(method, "")
    if parts[0] == "namespaces" and len(parts) > 1:
        a["namespace"] = parts[1]
        if len(parts) > 2 and parts[2] not in NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    a["resource"] = parts[0]
    if len(parts) >= 2:
        a["name"] = parts[1]
    if len(parts) >= 3 and a["verb"] != "proxy":
        a["subresource"] = parts[2]
    if not a["name"] and a["verb"] == "get":
        a["verb"] = "watch" if query_bool(query.get("watch")) else "list"
        name = field_selector_name(query.get("fieldSelector"))
        if name is not None and valid_path_segment(name):
            a["name"] = name
    if not a["name"] and a["verb"] == "delete":
        a["verb"] = "deletecollection"
    return a


# ---- rules ----

def _has(values, want):
    return "*" in values or want in values


def rule_allows(rule, a):
    """One PolicyRule against the request's attributes (rbac/v1's RuleAllows)."""
    if not _has(rule.get("verbs") or [], a["verb"]):
        return False
    if not a["resource_request"]:
        for url in rule.get("nonResourceURLs") or []:
            if url == "*" or url == a["path"] or \
                    (url.endswith("*") and a["path"].startswith(url.rstrip("*"))):
                return True
        return False
    if not _has(rule.get("apiGroups") or [], a["group"]):
        return False
    combined = a["resource"] + ("/" + a["subresource"] if a["subresource"] else "")
    if not any(r == "*" or r == combined or
               (a["subresource"] and r == "*/" + a["subresource"])
               for r in rule.get("resources") or []):
        return False
    names = rule.get("resourceNames") or []
    return not names or a["name"] in names


def applies_to(subject, user, binding_ns):
    """Whether a binding's subject is the user (rbac's appliesToUser)."""
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return user["username"] == name
    if kind == "Group":
        return name in user["groups"]
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return bool(ns) and user["username"] == f"{SA_PREFIX}{ns}:{name}"
    return False


def describe_subject(subject, binding_ns):
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        return f'ServiceAccount "{subject.get("namespace") or binding_ns}/{name}"'
    return f'{kind} "{name}"'


def user_info(entry):
    """A token table's user (TokenReview status.user) as the authenticator hands it on: every
    authenticated user is in system:authenticated."""
    groups = list(entry.get("groups") or [])
    if AUTHENTICATED not in groups:
        groups.append(AUTHENTICATED)
    return {"username": entry.get("username", ""), "groups": groups,
            "extra": entry.get("extra") or {}, "uid": entry.get("uid", "")}


def authorize(objects, user, a):
    """(allowed, reason) for `user` asking `a`. `objects` is the store's dict
    (group, plural, namespace, name) -> object; the caller holds its lock."""
    if SUPERUSER_GROUP in user["groups"]:
        return True, ""
    errors = []

    def role_rules(kind, ns, name):
        plural = {"ClusterRole": "clusterroles", "Role": "roles"}.get(kind)
        role = objects.get((RBAC_GROUP, plural, ns if kind == "Role" else "", name)) \
            if plural else None
        if role is None:  # the listers' NotFound: the kind's singular, lowercased
            errors.append(f'{kind.lower()}.{RBAC_GROUP} "{name}" not found')
            return []
        return role.get("rules") or []

    def visit(binding_kind, binding, ns):
        ref = binding.get("roleRef") or {}
        if ns == "" and ref.get("kind") != "ClusterRole":
            return None
        for s in binding.get("subjects") or []:
            if not applies_to(s, user, ns):
                continue
            for rule in role_rules(ref.get("kind", ""), ns, ref.get("name", "")):
                if rule_allows(rule, a):
                    bname = binding["metadata"]["name"]
                    where = f'{ns}/{bname}' if ns else bname
                    return (f'RBAC: allowed by {binding_kind} "{where}" of '
                            f'{ref.get("kind")} "{ref.get("name")}" to '
                            f'{describe_subject(s, ns)}')
            return None  # a subject repeated grants nothing more
        return None

    for (g, p, _, _), b in sorted(objects.items()):
        if g == RBAC_GROUP and p == "clusterrolebindings":
            why = visit("ClusterRoleBinding", b, "")
            if why:
                return True, why
    if a["namespace"]:
        for (g, p, ns, _), b in sorted(objects.items()):
            if g == RBAC_GROUP and p == "rolebindings" and ns == a["namespace"]:
                why = visit("RoleBinding", b, ns)
                if why:
                    return True, why
    if not errors:
        return False, ""
    return False, "RBAC: " + (errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")


def forbidden(user, a, reason):
    """The 403 Status fields (message, details) the real server answers a denial with."""
    who = user["username"]
    if not a["resource_request"]:
        msg = f'User "{who}" cannot {a["verb"]} path "{a["path"]}"'
    else:
        res = a["resource"] + ("/" + a["subresource"] if a["subresource"] else "")
        where = f'in the namespace "{a["namespace"]}"' if a["namespace"] else \
            "at the cluster scope"
        msg = f'User "{who}" cannot {a["verb"]} resource "{res}" in API group ' \
            f'"{a["group"]}" {where}'
    if reason:
        msg += ": " + reason
    if not a["resource_request"]:
        return f"forbidden: {msg}", {}
    qualified = a["resource"] + (f'.{a["group"]}' if a["group"] else "")
    details = {"kind": a["resource"]}
    if a["group"]:
        details["group"] = a["group"]
    if a["name"]:
        details["name"] = a["name"]
        return f'{qualified} "{a["name"]}" is forbidden: {msg}', details
    return f"{qualified} is forbidden: {msg}", details


def review_attributes(spec):
    """A SubjectAccessReview's spec as the attributes authorize() takes, or None when it has
    neither resourceAttributes nor nonResourceAttributes."""
    ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if isinstance(ra, dict):
        return {"resource_request": True, "path": "", "verb": ra.get("verb", ""),
                "group": ra.get("group", ""), "version": ra.get("version", ""),
                "resource": ra.get("resource", ""), "subresource": ra.get("subresource", ""),
                "namespace": ra.get("namespace", ""), "name": ra.get("name", "")}
    if isinstance(nra, dict):
        return {"resource_request": False, "path": nra.get("path", ""),
                "verb": nra.get("verb", ""), "group": "", "version": "", "resource": "",
                "subresource": "", "namespace": "", "name": ""}
    return None


def impersonation(headers):
    """The Impersonate-User and Impersonate-Group headers: (user, [groups]) or None."""
    name = headers.get("Impersonate-User")
    groups = headers.get_all("Impersonate-Group") or []
    if name is None:
        return None
    return name, groups


def impersonated_user(name, groups):
    """Who the request then runs as (the impersonation filter's rules): a service account's
    groups when none are given, and system:authenticated unless a group says otherwise."""
    groups = list(groups)
    if name.startswith(SA_PREFIX) and not groups:
        ns = name[len(SA_PREFIX):].partition(":")[0]
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{ns}"]
    if not any(g in (AUTHENTICATED, UNAUTHENTICATED) for g in groups):
        groups.append(AUTHENTICATED)
    return {"username": name, "groups": groups, "extra": {}, "uid": ""}


def impersonate_attributes(kind, value):
    """What impersonating a user, a service account or a group needs: `impersonate` on users,
    serviceaccounts (in its namespace) or groups, named."""
    a = {"resource_request": True, "path": "", "verb": "impersonate", "group": "",
         "version": "v1", "resource": kind, "subresource": "", "namespace": "", "name": value}
    if kind == "users" and value.startswith(SA_PREFIX):
        ns, _, sa = value[len(SA_PREFIX):].partition(":")
        a.update(resource="serviceaccounts", namespace=ns, name=sa)
    return a


# ---- the roles and bindings a new cluster has (the bootstrap policy's, for what is modelled)

def _meta(name):
    return {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}}


def _role(name, rules):
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole", "metadata": _meta(name),
            "rules": rules}


def _binding(name, groups):
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRoleBinding",
            "metadata": _meta(name),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": g} for g in groups]}


def bootstrap_objects():
    """cluster-admin for system:masters, and what every authenticated user may do: discovery,
    the public information (version, health) and asking what it may do itself."""
    public = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
    return [
        _role("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                                {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        _binding("cluster-admin", [SUPERUSER_GROUP]),
        _role("system:discovery", [{"nonResourceURLs": sorted(
            ["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*"] + public),
            "verbs": ["get"]}]),
        _binding("system:discovery", [AUTHENTICATED]),
        _role("system:basic-user", [
            {"apiGroups": ["authorization.k8s.io"],
             "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
             "verbs": ["create"]},
            {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"],
             "verbs": ["create"]}]),
        _binding("system:basic-user", [AUTHENTICATED]),
        _role("system:public-info-viewer", [{"nonResourceURLs": public, "verbs": ["get"]}]),
        _binding("system:public-info-viewer", [AUTHENTICATED, UNAUTHENTICATED]),
    ]
