#!/usr/bin/env bash
# `make image`: stages the binaries and the shared libraries ldd lists for them (with the dynamic
# loader) into build/image/root, then builds deploy/Containerfile from it with `podman build`,
# FROM scratch, tagged localhost/ambit:<version>, into podman's own storage: the store and the
# driver a plain `podman images` and `podman push` use (a fresh store picks overlay, an older one
# keeps the driver it was made with; buildah's own default need not be the same, and a fixed
# `--storage-driver vfs` left the image where a default podman did not look). Prints the tag on
# stdout and how to push it on stderr; pushes nothing: no registry is needed or reached.
# Knobs: IMAGE_TAG (default localhost/ambit:$(ambitctl --version)), STORAGE_DRIVER (empty:
# podman's default; if set, podman must be given the same --storage-driver to see the image).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
B=$REPO/build
BINS=(ambit-agent ztunnel waypoint ambitctl ambit-cni)
for b in "${BINS[@]}"; do
	[ -x "$B/$b" ] || { echo "image: build/$b not built (make)" >&2; exit 1; }
done
command -v podman >/dev/null || { echo "image: needs podman (make deps)" >&2; exit 1; }
version=$("$B/ambitctl" --version | awk '{print $2}')
tag=${IMAGE_TAG:-localhost/ambit:$version}
ctx=$B/image
rm -rf "$ctx"
mkdir -p "$ctx/root/usr/local/bin" "$ctx/root/tmp" "$ctx/root/run" "$ctx/root/etc"
chmod 1777 "$ctx/root/tmp"
for b in "${BINS[@]}"; do
	install -m 0755 "$B/$b" "$ctx/root/usr/local/bin/$b"
done
# istioctl: ambitctl under istioctl's name (docs/istioctl.md).
ln -s ambitctl "$ctx/root/usr/local/bin/istioctl"
# Every library the binaries load, at the path the loader looks for it.
ldd "${BINS[@]/#/$B/}" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(0x/ { print $1 }' | sort -u |
	while read -r lib; do
		mkdir -p "$ctx/root$(dirname "$lib")"
		cp -L "$lib" "$ctx/root$lib"
	done
# Names for users and groups (getpwuid) and the resolver's order: a pod's /etc is otherwise empty.
printf 'root:x:0:0:root:/:/usr/local/bin/ambitctl\nnobody:x:65534:65534:nobody:/:/usr/local/bin/ambitctl\n' >"$ctx/root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ctx/root/etc/group"
printf 'hosts: files dns\n' >"$ctx/root/etc/nsswitch.conf"
cp "$REPO/deploy/Containerfile" "$ctx/Containerfile"
podman ${STORAGE_DRIVER:+--storage-driver "$STORAGE_DRIVER"} build -q --layers=false \
	-f "$ctx/Containerfile" -t "$tag" "$ctx" >/dev/null
echo "$tag"
name=${tag##*/}
sd=${STORAGE_DRIVER:+--storage-driver $STORAGE_DRIVER }
cat >&2 <<EOT
image: $tag is in podman's storage (podman ${sd}images). To push it (not done here):
  podman ${sd}push $tag docker://REGISTRY/${name}
  ambitctl install --set image=REGISTRY/${name}
EOT
