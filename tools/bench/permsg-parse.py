#!/usr/bin/env python3
# permsg-parse.py TRACE: what one side's proxies did in an `strace -f -xx -s 65536 -o TRACE` run
# (tools/bench/permsg.sh), as one JSON object: system calls by kind, those that failed with
# EAGAIN (reads and writes that found nothing to do), and the TLS records the writes carried
# (walked from the record headers of each written buffer: a buffer counts when its records
# cover it exactly), with the plaintext they held (record length - 17: AES-GCM tag and TLS 1.3's
# inner content type). Syscalls are counted at their start ("<unfinished ...>" included), their
# results on the line that completes them ("<... resumed>").
import json
import re
import sys

LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>(.*)|(\w+)\((.*))$")
RESULT = re.compile(r"\)\s+=\s+(-?\d+|\?)(?:\s+(\w+))?")
QUOTED = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')
WRITES = {"write", "writev", "send", "sendto", "sendmsg"}


def tls_records(data):
    """(records, plaintext bytes) when @data is whole TLS records, else None."""
    i = n = plain = 0
    while i + 5 <= len(data):
        if data[i] not in (0x14, 0x15, 0x16, 0x17) or data[i + 1:i + 3] != b"\x03\x03":
            return None
        ln = int.from_bytes(data[i + 3:i + 5], "big")
        n += 1
        plain += max(ln - 17, 0)
        i += 5 + ln
    return (n, plain) if n and i == len(data) else None


def main(path):
    calls, eagain, pending = {}, {}, {}
    rec = {"tls_records": 0, "tls_plaintext_bytes": 0, "tls_writes": 0, "plain_writes": 0}
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue
            pid, resumed_name, resumed_rest, name, rest = m.groups()
            if name:
                calls[name] = calls.get(name, 0) + 1
                if rest.endswith("<unfinished ...>"):
                    pending[pid] = name
                    tail = None
                else:
                    tail = rest
                if name in WRITES:
                    data = b"".join(bytes.fromhex(q.replace("\\x", ""))
                                    for q in QUOTED.findall(rest))
                    r = tls_records(data) if data else None
                    if r:
                        rec["tls_writes"] += 1
                        rec["tls_records"] += r[0]
                        rec["tls_plaintext_bytes"] += r[1]
                    elif data:
                        rec["plain_writes"] += 1
            else:
                name = resumed_name
                pending.pop(pid, None)
                tail = resumed_rest
            if tail is not None:
                r = RESULT.search(tail)
                if r and r.group(1) == "-1" and r.group(2) == "EAGAIN":
                    eagain[name] = eagain.get(name, 0) + 1
    json.dump({"calls": calls, "eagain": eagain, **rec}, sys.stdout)
    print()


if __name__ == "__main__":
    main(sys.argv[1])
