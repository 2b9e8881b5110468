#!/usr/bin/env bash
# The container image (`make image`: tools/image.sh, deploy/Containerfile): built FROM scratch with
# `podman build` from the binaries and the Debian libraries they load, no registry, into podman's
# own storage: a plain `podman images` lists it and a plain `podman push` finds it (here to a
# local directory: nothing is pushed off the machine), whatever driver that storage uses. Checked
# in a store of its own whose storage.conf says driver = "overlay" (as Fedora's does, and as a
# fresh store on ext4 picks; the image built into buildah's vfs store before was not there), then
# in this machine's default store. Each binary runs in it under podman (runc: this machine's
# hybrid cgroups refuse crun; a containers.conf without default ulimits, KERNEL_NOTES.md) and
# prints the version of the tree it was built from; the image holds no shell. `make image` says
# how to push it. The images, the store and podman's leftovers are removed at the end.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd podman runc
for b in ambit-agent ztunnel waypoint ambitctl; do
	[ -x "$REPO/build/$b" ] || fail "build/$b is not built"
done
tmp=$(mktemp -d /var/tmp/ambit-t92.XXXXXX)
tag=localhost/ambit-test:$$
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' \
	"$tmp/store" "$tmp/run" >"$tmp/storage.conf"
printf '[containers]\ndefault_ulimits = []\n[engine]\ntmp_dir = "%s"\n' "$tmp/libpod" \
	>"$tmp/containers.conf"
own() { CONTAINERS_STORAGE_CONF=$tmp/storage.conf CONTAINERS_CONF=$tmp/containers.conf "$@"; }
cleanup() {
	own podman rmi -f "$tag" >/dev/null 2>&1
	podman rmi -f "$tag" >/dev/null 2>&1
	# Nothing of the store of its own may stay mounted before it goes.
	grep -q " $tmp/" /proc/self/mounts && awk -v t="$tmp/" 'index($2, t) == 1 { print $2 }' \
		/proc/self/mounts | sort -r | xargs -r umount -l
	rm -rf "$tmp"
}
trap cleanup EXIT

out=$(IMAGE_TAG=$tag own bash "$REPO/tools/image.sh" 2>"$tmp/err") ||
	fail "tools/image.sh: $out $(cat "$tmp/err")"
expect_eq "$out" "$tag" "the image's tag"
expect_contains "$(cat "$tmp/err")" "podman push $tag docker://REGISTRY/ambit-test:$$" \
	"make image says how to push the image"
listed=$(own podman images --format '{{.Repository}}:{{.Tag}}')
expect_contains "$listed" "$tag" "a plain podman images lists the image"
own podman push -q "$tag" "dir:$tmp/pushed" >/dev/null 2>&1 || fail "a plain podman push does not find $tag"
[ -s "$tmp/pushed/manifest.json" ] || fail "podman push wrote no manifest"
want=$("$REPO/build/ambitctl" --version | awk '{print $2}')
[ -n "$want" ] || fail "ambitctl --version printed no version"
for b in ambit-agent ztunnel waypoint ambitctl; do
	got=$(own podman run --rm --runtime runc --network none --entrypoint "/usr/local/bin/$b" \
		"$tag" --version 2>&1) || fail "$b --version in the image: $got"
	expect_eq "$got" "$b $want" "$b --version in the image"
done
# istioctl, ambitctl under istioctl's name: its client version without a cluster.
got=$(own podman run --rm --runtime runc --network none --entrypoint /usr/local/bin/istioctl \
	"$tag" version --remote=false 2>&1) || fail "istioctl version in the image: $got"
expect_eq "$got" "client version: $want" "istioctl version --remote=false in the image"
# FROM scratch: the binaries and their libraries, no shell to exec into.
own podman run --rm --runtime runc --network none --entrypoint /bin/sh "$tag" -c true \
	>/dev/null 2>&1 && fail "the image has a shell"
size=$(own podman image inspect "$tag" --format '{{.Size}}')
log "image $tag: $((size / 1000000)) MB"
own podman rmi -f "$tag" >/dev/null 2>&1

# This machine's own default store, whichever driver it has.
out=$(IMAGE_TAG=$tag bash "$REPO/tools/image.sh" 2>/dev/null) || fail "tools/image.sh (default store)"
listed=$(podman images --format '{{.Repository}}:{{.Tag}}')
expect_contains "$listed" "$tag" "podman images lists the image (this machine's defaults)"
pass
