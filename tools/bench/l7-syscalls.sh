#!/usr/bin/env bash
# System calls, wake-ups and voluntary context switches per request of the L7 router: what
# tools/bench/l7-insns.sh counts in user space, here on the kernel side, in the same setup
# (`l7.sh --configs`: the waypoint --workers 1, HAProxy with and without its access log, the same
# nginx backends) with the same client (CONNS keep-alive connections, one request at a time each,
# WARM warm-up requests first). It is l7-insns.sh with COUNT=syscalls: the router runs natively,
# the voluntary context switches of its threads (/proc/PID/task/*/status) are read around N
# requests, then `strace -c -f -p PID` is attached over N more, and the calls are printed per
# request by kind: reads (read/recvfrom/recvmsg/readv) and how many failed (EAGAIN: a read that
# found nothing), writes (write/sendto/sendmsg/writev), epoll_wait (each return is a wake-up of
# the loop), epoll_ctl, accept, clock, the rest; then every call's count per request.
#
# Knobs: l7-insns.sh's (N [20000], WARM [500], CONNS [4], MODES ["plain tls"], ROUTERS
# ["waypoint haproxy haproxy+log"], SETUP [l7; gateway, tracing], KEEP=1 keeps strace's
# summaries), OUT [build/bench/l7-syscalls] writes OUT.md and OUT.json. strace stops the router
# at every call, so the window runs several times slower than without it; counts, not times, are
# the result. Not part of `make bench` / `make test`; tears down what it starts (l7-insns.sh's trap).
COUNT=syscalls exec bash "$(dirname "$0")/l7-insns.sh" "$@"
