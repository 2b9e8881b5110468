#!/usr/bin/env python3
"""Where snap.json's bytes go: per member, key bytes vs value bytes, and what is derivable."""
import json, sys, gzip
raw = open(sys.argv[1] if len(sys.argv) > 1 else 'snap.json', 'rb').read()
j = json.loads(raw)
td = j['trustDomain']
def enc(v): return len(json.dumps(v, separators=(',', ':')))
def tally(objs, label):
    keys, vals = {}, {}
    for o in objs:
        for k, v in o.items():
            keys[k] = keys.get(k, 0) + len(k) + 4   # "k": and the comma
            vals[k] = vals.get(k, 0) + enc(v)
    tot = sum(keys.values()) + sum(vals.values())
    print(f"{label}: {len(objs)} objects, {tot:,} bytes; keys {sum(keys.values()):,} bytes "
          f"({100*sum(keys.values())/tot:.0f}%)")
    for k in sorted(keys, key=lambda k: -(keys[k] + vals[k])):
        print(f"   {k:20s} key {keys[k]:>9,}  value {vals[k]:>9,}")
    return tot
print(f"total {len(raw):,} bytes")
W = j['workloads']; S = j['services']
tally(W, 'workloads'); tally(S, 'services')
print(f"certs: {enc(j['certs']):,} bytes; rootPEM {enc(j['rootPEM']):,}; "
      f"serviceEntries {enc(j.get('serviceEntries', [])):,}")
# Derivable per-workload members.
d = {}
def add(k, n): d[k] = d.get(k, 0) + n
for w in W:
    kb = lambda k: len(k) + 4 + enc(w[k])
    if w['uid'] == w['namespace'] + '/' + w['name']: add('uid = namespace/name', kb('uid'))
    if w['identity'] == f"spiffe://{td}/ns/{w['namespace']}/sa/{w['serviceAccount']}":
        add('identity = spiffe://td/ns/NS/sa/SA', kb('identity'))
    for k in ('app', 'canonicalService'):
        if w[k] == w['workloadName']: add(f'{k} = workloadName', kb(k))
    if w['canonicalRevision'] == w['version']: add('canonicalRevision = version', kb('canonicalRevision'))
    add('node name+nodeIP per pod (100 distinct)', kb('node') + kb('nodeIP'))
    if 'waypoint' in w: add('waypoint object per pod (4 distinct)', len('waypoint') + 4 + enc(w['waypoint']))
for s in S:
    if s['hostname'] == f"{s['name']}.{s['namespace']}.svc.cluster.local":
        add('service hostname = name.ns.svc.cluster.local', len('hostname') + 4 + enc(s['hostname']))
    if 'waypoint' in s: add('waypoint object per service', len('waypoint') + 4 + enc(s['waypoint']))
print("derivable / repeated:")
for k, v in d.items(): print(f"   {k:48s} {v:>10,} bytes")
print(f"   {'sum':48s} {sum(d.values()):>10,} bytes ({100*sum(d.values())/len(raw):.0f}% of total)")
