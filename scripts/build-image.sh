#!/usr/bin/env bash
# `make image`: build the web and worker OCI images without a container daemon or registry.
#
#   scripts/build-image.sh [web|worker ...]     (default: both)
#
# 1. scripts/image/make-rootfs.sh   base root filesystem from Debian packages (mmdebstrap)
# 2. scripts/image/install-app.sh   the app's pinned wheels under /app, per target
# 3. deterministic tars (sorted, fixed mtime, numeric owners, no atime/ctime)
# 4. buildah build FROM scratch (scripts/image/Containerfile.prebuilt, the final stages of
#    /Containerfile), with --timestamp so that the same inputs give the same digest
# 5. build/image/learnloop-TARGET.oci.tar (OCI archive), .digest and .cdx.json (CycloneDX SBOM)
#
# IMAGE_OUT changes the output folder; SOURCE_DATE_EPOCH (default: the last commit's time) sets
# every timestamp in the images.
#
# Needs root: mmdebstrap --mode=root and buildah --isolation chroot.
# scripts/install-deploy-tools.sh installs the tools.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${IMAGE_OUT:-$ROOT/build/image}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
SYFT="${SYFT:-$ROOT/.venv/bin/syft}"
VERSION="$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("'"$ROOT"'/pyproject.toml", "rb"))["project"]["version"])')"
# The image's timestamps: the last commit's, so a given commit always gives the same digest.
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)}"
export SOURCE_DATE_EPOCH PYTHON
targets=("$@")
((${#targets[@]})) || targets=(web worker)

[[ "$(id -u)" == 0 ]] || { echo "build-image: needs root (mmdebstrap, buildah)" >&2; exit 1; }
for tool in mmdebstrap buildah dpkg-deb strip; do
    command -v "$tool" >/dev/null || {
        echo "build-image: $tool missing; run scripts/install-deploy-tools.sh" >&2
        exit 1
    }
done

mkdir -p "$OUT/context"
echo "$SOURCE_DATE_EPOCH" > "$OUT/source-date-epoch"
STORAGE=(--root "$OUT/storage" --runroot "$OUT/runroot" --storage-driver vfs)

det_tar() { # det_tar DIR OUTPUT: a tar whose bytes depend only on the tree's content
    tar --create --file "$2" --directory "$1" \
        --sort=name --format=posix --numeric-owner \
        --mtime="@$SOURCE_DATE_EPOCH" \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        .
}

started=$SECONDS
step() { echo "build-image: [$((SECONDS - started)) s] $*"; }
bash "$ROOT/scripts/image/make-rootfs.sh" "$OUT/base"
det_tar "$OUT/base/rootfs" "$OUT/context/base.tar"
for target in "${targets[@]}"; do
    step "installing the $target app"
    bash "$ROOT/scripts/image/install-app.sh" "$target" "$OUT/$target" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    det_tar "$OUT/$target" "$OUT/context/$target.tar"
done

for target in "${targets[@]}"; do
    image="localhost/learnloop-$target:$VERSION"
    step "building $image"
    archive="$OUT/learnloop-$target.oci.tar"
    buildah "${STORAGE[@]}" build --quiet --isolation chroot --pull=never \
        --format oci --timestamp "$SOURCE_DATE_EPOCH" \
        --label "org.opencontainers.image.title=learnloop-$target" \
        --label "org.opencontainers.image.version=$VERSION" \
        --label "org.opencontainers.image.licenses=Apache-2.0" \
        -f "$ROOT/scripts/image/Containerfile.prebuilt" --target "$target" -t "$image" \
        "$OUT/context" 2> >(grep -v "HEALTHCHECK is not supported for OCI" >&2) >/dev/null
    rm -f "$archive"
    step "pushing $image to $archive"
    buildah "${STORAGE[@]}" push --quiet --format oci --compression-format gzip \
        --digestfile "$OUT/learnloop-$target.digest" \
        "$image" "oci-archive:$archive:learnloop-$target:$VERSION"
    step "SBOM of $target"
    SYFT_CHECK_FOR_APP_UPDATE=false "$SYFT" scan --quiet "oci-archive:$archive" \
        -o "cyclonedx-json=$OUT/learnloop-$target.cdx.json"
    printf 'build-image: %-6s %s  %s MB  %s\n' "$target" "$(cat "$OUT/learnloop-$target.digest")" \
        "$(awk -v b="$(stat -c %s "$archive")" 'BEGIN { printf "%.1f", b / 1e6 }')" "$archive"
done
# The private image store (vfs: a full copy per image) is only a staging area.
buildah "${STORAGE[@]}" rmi --all --force >/dev/null 2>&1 || true
rm -rf "$OUT/storage" "$OUT/runroot"
echo "build-image: done in $((SECONDS - started)) s"
