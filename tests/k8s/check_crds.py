#!/usr/bin/python3
"""Checks the CRDs `ambitctl install crds` generates against what ambit itself accepts.

An API server with a structural schema drops (prunes) every field the schema does not declare
and refuses values of another type: a CRD that is narrower than ambit's loader would lose
configuration silently. So every Istio object in the sample and test manifests given is checked
against its kind's schema (the version it names), as the API server would: undeclared fields,
wrong types, missing required fields. Each object the schema faults must be one ambit's loader
also refuses (`ambitctl analyze -f`, its schema errors: those without an IST code). Also: every
schema node is structural (a type, or int-or-string, or kept whole), and the checker itself
faults a misspelt field and a wrong type (so it can fail).

    check_crds.py CRDS.yaml AMBITCTL DIR...    exit 0 when all hold, 1 otherwise
"""
import os
import subprocess
import sys
import tempfile

import yaml


def structural(s, path, errors):
    if not (s.get("type") or s.get("x-kubernetes-int-or-string") or
            s.get("x-kubernetes-preserve-unknown-fields")):
        errors.append(f"{path}: no type (not structural)")
    if "properties" in s and s.get("type") != "object":
        errors.append(f"{path}: properties on a {s.get('type')}")
    if s.get("type") == "array" and "items" not in s:
        errors.append(f"{path}: an array without items")
    for k, v in s.get("properties", {}).items():
        structural(v, f"{path}.{k}", errors)
    if isinstance(s.get("items"), dict):
        structural(s["items"], f"{path}[]", errors)
    if isinstance(s.get("additionalProperties"), dict):
        structural(s["additionalProperties"], f"{path}{{}}", errors)
    for r in s.get("required", []):
        if r not in s.get("properties", {}):
            errors.append(f"{path}: requires {r}, which it does not declare")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


TYPES = {"string": lambda v: isinstance(v, str), "integer": is_int,
         "number": lambda v: is_int(v) or isinstance(v, float),
         "boolean": lambda v: isinstance(v, bool), "object": lambda v: isinstance(v, dict),
         "array": lambda v: isinstance(v, list)}


def validate(v, s, path, problems):
    """What the API server would do to @v under schema @s: problems, each with its path."""
    if v is None:
        return  # null: unset, as ambit reads it
    if s.get("x-kubernetes-int-or-string"):
        if not (is_int(v) or isinstance(v, str)):
            problems.append(f"{path}: an integer or a string wanted, got {v!r}")
        return
    t = s.get("type")
    if t and not TYPES[t](v):
        problems.append(f"{path}: {t} wanted, got {type(v).__name__} {v!r:.40}")
        return
    if s.get("x-kubernetes-preserve-unknown-fields") and "properties" not in s:
        return
    if isinstance(v, dict):
        props = s.get("properties")
        addl = s.get("additionalProperties")
        for k, x in v.items():
            if props is not None and k in props:
                validate(x, props[k], f"{path}.{k}", problems)
            elif isinstance(addl, dict):
                validate(x, addl, f"{path}.{k}", problems)
            elif not s.get("x-kubernetes-preserve-unknown-fields"):
                problems.append(f"{path}.{k}: not in the schema (the API server prunes it)")
        for r in s.get("required", []):
            if v.get(r) is None:
                problems.append(f"{path}.{r}: required")
    elif isinstance(v, list) and isinstance(s.get("items"), dict):
        for i, x in enumerate(v):
            validate(x, s["items"], f"{path}[{i}]", problems)


def schema_errors(ambitctl, obj):
    """ambit's loader's errors for @obj alone (cross-reference findings, IST codes, aside)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(obj, f)
        name = f.name
    try:
        out = subprocess.run([ambitctl, "analyze", "-f", name], capture_output=True, text=True,
                             timeout=60).stdout
    finally:
        os.unlink(name)
    return [ln for ln in out.splitlines() if ": error:" in ln and " IST0" not in ln]


def main(argv):
    crds_file, ambitctl, dirs = argv[0], argv[1], argv[2:]
    errors, schemas = [], {}
    with open(crds_file) as f:
        crds = [d for d in yaml.safe_load_all(f) if d]
    for c in crds:
        spec = c["spec"]
        for v in spec["versions"]:
            s = v["schema"]["openAPIV3Schema"]
            structural(s, f"{spec['names']['kind']}/{v['name']}", errors)
            schemas[(f"{spec['group']}/{v['name']}", spec["names"]["kind"])] = s
    checked = agreed = 0
    clean = None
    for d in dirs:
        for root, _, files in sorted(os.walk(d)):
            for fn in sorted(files):
                if not fn.endswith((".yaml", ".yml")):
                    continue
                p = os.path.join(root, fn)
                try:
                    with open(p) as f:
                        docs = [x for x in yaml.safe_load_all(f) if isinstance(x, dict)]
                except yaml.YAMLError:
                    continue  # templates and deliberately broken fixtures
                for i, o in enumerate(docs):
                    s = schemas.get((o.get("apiVersion"), o.get("kind")))
                    if not s:
                        continue
                    checked += 1
                    problems = []
                    # apiVersion, kind and metadata are the API server's own, in every object.
                    validate({k: v for k, v in o.items()
                              if k not in ("apiVersion", "kind", "metadata")}, s, o["kind"],
                             problems)
                    if not problems:
                        clean = clean or o
                        continue
                    if schema_errors(ambitctl, o):
                        agreed += 1  # both refuse it
                        continue
                    errors.append(f"{p}: document {i + 1} ({o['kind']} "
                                  f"{o.get('metadata', {}).get('name')}): ambit accepts it, "
                                  f"the CRD would not: {'; '.join(problems[:3])}")
    if checked < 50:
        errors.append(f"only {checked} Istio objects found under {dirs}: wrong directories?")
    # The checker can fail: a misspelt field is pruned, a wrong type refused.
    if clean:
        for mutate, what in ((lambda o: o["spec"].update(bogusField=1), "bogusField"),
                             (lambda o: o.update(spec="a string"), "object wanted")):
            bad = yaml.safe_load(yaml.safe_dump(clean))
            mutate(bad)
            problems = []
            validate(bad, schemas[(bad["apiVersion"], bad["kind"])], bad["kind"], problems)
            if not any(what in x for x in problems):
                errors.append(f"self-check: {what} not faulted: {problems}")
    else:
        errors.append("no object passed its schema")
    for e in errors:
        print(e)
    print(f"check_crds: {len(crds)} CRDs, {checked} objects checked, {agreed} refused by both, "
          f"{len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
