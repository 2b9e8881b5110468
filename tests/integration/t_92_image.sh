#!/usr/bin/env bash
# The container image (`make image`: tools/image.sh, deploy/Containerfile): built FROM scratch with
# buildah from the binaries and the Debian libraries they load, no registry; each binary runs in
# it under podman (runc: this machine's hybrid cgroups refuse crun; a containers.conf without
# default ulimits, KERNEL_NOTES.md) and prints the version of the tree it was built from; the
# image holds no shell. The image and podman's leftovers are removed at the end.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd buildah podman runc
for b in ambit-agent ztunnel waypoint ambitctl; do
	[ -x "$REPO/build/$b" ] || fail "build/$b is not built"
done
tmp=$(mktemp -d)
tag=localhost/ambit-test:$$
export CONTAINERS_CONF=$tmp/containers.conf
printf '[containers]\ndefault_ulimits = []\n' >"$CONTAINERS_CONF"
P() { podman --storage-driver vfs "$@"; }
cleanup() {
	P rmi -f "$tag" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

out=$(IMAGE_TAG=$tag bash "$REPO/tools/image.sh" 2>&1) || fail "tools/image.sh: $out"
expect_eq "$out" "$tag" "the image's tag"
want=$("$REPO/build/ambitctl" --version | awk '{print $2}')
[ -n "$want" ] || fail "ambitctl --version printed no version"
for b in ambit-agent ztunnel waypoint ambitctl; do
	got=$(P run --rm --runtime runc --network none --entrypoint "/usr/local/bin/$b" "$tag" \
		--version 2>&1) || fail "$b --version in the image: $got"
	expect_eq "$got" "$b $want" "$b --version in the image"
done
# FROM scratch: the binaries and their libraries, no shell to exec into.
P run --rm --runtime runc --network none --entrypoint /bin/sh "$tag" -c true >/dev/null 2>&1 &&
	fail "the image has a shell"
size=$(P image inspect "$tag" --format '{{.Size}}')
log "image $tag: $((size / 1000000)) MB"
pass
