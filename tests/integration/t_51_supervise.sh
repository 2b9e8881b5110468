#!/usr/bin/env bash
# Each node's kubelet restarts what dies, as a kubelet does: a killed ztunnel, agent or pod comes
# back (and traffic flows again), counted in RESTARTS; a pod that keeps exiting 1 goes into
# CrashLoopBackOff with a growing count; restartPolicy Never stays Failed, OnFailure ends
# Completed on exit 0; a command that cannot start is reported failed with the exec error; a
# pod added by apply is supervised too; `local stop` keeps a ztunnel down until `local start`.
. "$(dirname "$0")/lib.sh"
need_root; need_bins; need_cmd jq
# A small back-off base so a crash loop shows in seconds (the kubelet's is 10 s).
export AMBIT_KUBELET_BACKOFF_MS=300
cluster_up manifests
wait_for 30 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "server never answered"

status_json() { actl local status -o json 2>/dev/null; }
# field NODE COMPONENT KEY / pod_field NS/POD KEY: one value of `local status -o json`.
field() { status_json | jq -r --arg n "$1" ".nodes[] | select(.name == \$n) | .$2.$3"; }
pod_field() {
	status_json | jq -r --arg ns "${1%/*}" --arg n "${1#*/}" \
		".pods[] | select(.namespace == \$ns and .name == \$n) | .$2"
}
# is_running_anew NODE COMPONENT OLDPID: it runs again, as another process.
is_running_anew() {
	[ "$(field "$1" "$2" running)" = true ] && [ "$(field "$1" "$2" pid)" != "$3" ]
}

# A killed ztunnel fails closed, then its kubelet brings it back: traffic flows, 1 restart.
zpid=$(field node2 ztunnel pid)
kill -9 "$zpid"
wait_for 15 is_running_anew node2 ztunnel "$zpid" || fail "the killed ztunnel was not restarted"
wait_for 15 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "no traffic after the ztunnel restart"
expect_eq "$(field node2 ztunnel restarts)" 1 "ztunnel restarts"
expect_eq "$(field node2 ztunnel lastExit.signal)" 9 "ztunnel last exit"
expect_contains "$(actl local status)" "ready (pid $(field node2 ztunnel pid)), 1 restart" "local status shows the restart"

# The agent too.
apid=$(field node1 agent pid)
kill -9 "$apid"
wait_for 15 is_running_anew node1 agent "$apid" || fail "the killed agent was not restarted"
expect_eq "$(field node1 agent restarts)" 1 "agent restarts"
# Serving again (its socket, where ambit-cni asks for the pods applied below), not only running.
agent_ready() { [ "$(field node1 agent ready)" = true ]; }
wait_for 30 agent_ready || fail "the restarted agent never became ready"

# A pod's main process: restarted in place (same IP), serving again.
ppid=$(pod_field mesh/server-0 pid)
kill -9 "$ppid"
wait_for 15 bash -c "[ \"\$(\"$AMBITCTL\" local status -o json | jq -r '.pods[] | select(.name == \"server-0\" and .namespace == \"mesh\") | .pid')\" != $ppid ]" ||
	fail "the killed pod was not restarted"
wait_for 15 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "no traffic after the pod restart"
expect_eq "$(pod_field mesh/server-0 restarts)" 1 "pod restarts"

# Pods added by apply: a crash loop, Never, OnFailure, and two commands that cannot start.
extra=$(mktemp /tmp/ambit-it-XXXXXX)
trap 'rm -f "$extra"; on_exit' EXIT
cat >"$extra" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: mesh}
spec:
  containers: [{name: c, command: ["sh", "-c", "echo crashing; exit 1"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: once, namespace: mesh}
spec:
  restartPolicy: Never
  containers: [{name: c, command: ["sh", "-c", "exit 3"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: done, namespace: mesh}
spec:
  restartPolicy: OnFailure
  containers: [{name: c, command: ["true"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: badcmd, namespace: mesh}
spec:
  containers: [{name: c, command: ["nginxx", "-g", "daemon off;"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: badonce, namespace: mesh}
spec:
  restartPolicy: Never
  containers: [{name: c, command: ["nginxx"]}]
EOF
out=$(actl apply -f "$extra" 2>&1) || fail "apply: $out"
expect_contains "$out" "pod mesh/badcmd failed to start on"
expect_contains "$out" "exec: nginxx: No such file or directory" "apply says why the pod did not start"
expect_not_contains "$out" "pod mesh/badcmd started" "a pod that cannot start is not reported started"
expect_contains "$out" "pod mesh/crasher started"
# Exits at once, maybe before apply hears of it: an exit is the pod's state, it did start.
expect_contains "$out" "pod mesh/done started"
expect_contains "$out" "pod mesh/once started"

crash_looping() {
	[ "$(pod_field mesh/crasher state)" = CrashLoopBackOff ] && [ "$(pod_field mesh/crasher restarts)" -ge "$1" ]
}
wait_for 30 crash_looping 2 || fail "crasher is not in CrashLoopBackOff: $(actl local status)"
r1=$(pod_field mesh/crasher restarts)
expect_eq "$(pod_field mesh/crasher lastExit.exitCode)" 1 "crasher's last exit code"
expect_contains "$(actl local logs mesh/crasher)" "crashing"
wait_for 30 crash_looping $((r1 + 2)) || fail "crasher's restart count did not grow past $r1"

# Meanwhile, those whose policy says so stayed as they ended.
expect_eq "$(pod_field mesh/once state):$(pod_field mesh/once restarts)" Failed:0 "restartPolicy Never"
expect_eq "$(pod_field mesh/once lastExit.exitCode)" 3 "Never's exit code"
expect_eq "$(pod_field mesh/done state):$(pod_field mesh/done restarts)" Completed:0 "OnFailure after exit 0"
expect_eq "$(pod_field mesh/badonce state):$(pod_field mesh/badonce restarts)" Failed:0 "a bad command under Never"
expect_contains "$(pod_field mesh/badonce reason)" "exec: nginxx: No such file or directory"
expect_eq "$(pod_field mesh/badcmd state)" CrashLoopBackOff "a bad command under Always"
expect_contains "$(pod_field mesh/badcmd reason)" "exec: nginxx: No such file or directory"
out=$(actl local status)
expect_contains "$out" "exec: nginxx: No such file or directory" "local status gives the reason"
out=$(actl workloads)
expect_contains "$(printf '%s\n' "$out" | awk '$2 == "crasher"')" CrashLoopBackOff "workloads STATUS"
expect_eq "$(printf '%s\n' "$out" | awk '$2 == "server-0" && $1 == "mesh" {print $8}')" 1 "workloads RESTARTS"
out=$(actl local exec mesh/once -- true 2>&1) && fail "exec into a Failed pod"
expect_contains "$out" "is not running: Failed"

# `local stop` means stopped until `local start`: no restart while crasher keeps restarting.
actl local stop ztunnel --node node1 >/dev/null || fail "stop ztunnel"
r=$(pod_field mesh/crasher restarts)
wait_for 30 crash_looping $((r + 2)) || fail "crasher stopped restarting"
expect_eq "$(field node1 ztunnel state):$(field node1 ztunnel running)" Stopped:false "a stopped ztunnel stays down"
pod_exec mesh/client-0 curl -sf --max-time 3 http://server/ >/dev/null && fail "traffic with the source ztunnel stopped"
actl local start ztunnel --node node1 >/dev/null || fail "start ztunnel"
wait_for 15 pod_exec mesh/client-0 curl -sf --max-time 2 http://server/ || fail "no traffic after local start"

# Deleted pods are no longer supervised: nothing of them comes back.
actl delete -f "$extra" >/dev/null || fail "delete"
[ -z "$(pod_field mesh/crasher name)" ] || fail "crasher still listed"
[ ! -e "/run/ambit/$CLUSTER/pods/mesh_crasher.pid" ] || fail "crasher's pid file is left"
pass
