#!/usr/bin/env bash
# Build the distroless-style base root filesystem from Debian packages.
#
#   scripts/image/make-rootfs.sh OUT_DIR
#
# Result: OUT_DIR/rootfs, a tree with Python 3.11 (interpreter + stdlib), glibc, OpenSSL,
# SQLite and the CA bundle; no shell, no package manager, no tar. One file per package under
# var/lib/dpkg/status.d/ (the distroless convention) lets SBOM tools list what is inside.
# The same script runs on the host (`make image`) and inside the Containerfile's build stage.
# Needs root (mmdebstrap --mode=root, chroot for byte-compiling) and dpkg-deb.
set -euo pipefail

OUT="${1:?usage: make-rootfs.sh OUT_DIR}"
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-0}"

# What the image is for. Dependencies come along and are pruned below.
# libstdc++6: manylinux wheels (numpy, greenlet) link it from the system.
INCLUDE=python3.11-minimal,libpython3.11-stdlib,python3.11,ca-certificates,tzdata,netbase,base-files,libstdc++6
# Pulled in only for their maintainer scripts or tools: removed file by file from the tree.
DROP_PACKAGES=(dpkg tar debconf mawk perl-base libselinux1 libpcre2-8-0 libacl1 libmd0
    readline-common libreadline8 libncursesw6 libtinfo6 libdb5.3
    libnsl2 libtirpc3 libtirpc-common libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0
    libkeyutils1 libcom-err2)
# Tools from packages we keep that would turn the image back into a toolbox.
DROP_PATHS=(
    usr/bin/openssl usr/bin/c_rehash usr/sbin/update-ca-certificates usr/bin/pydoc3.11
    usr/bin/pygettext3.11 usr/bin/pdb3.11 usr/sbin/tzconfig
    usr/share/man usr/share/info usr/share/locale usr/share/lintian usr/share/bug usr/share/debconf
    usr/share/pixmaps usr/share/applications usr/share/python3 usr/share/binfmts
    usr/lib/python3.11/lib2to3 usr/lib/python3.11/pydoc_data usr/lib/python3.11/ensurepip
    usr/lib/python3.11/idlelib usr/lib/python3.11/turtledemo usr/lib/python3.11/tkinter
    var/cache var/log var/lib/apt var/lib/dpkg etc/apt etc/dpkg etc/cron.daily etc/logrotate.d
    usr/lib/python3.11/test etc/update-motd.d
    # glibc's iconv modules: Python brings its own codecs.
    usr/lib/x86_64-linux-gnu/gconv
    # Extension modules for an interactive terminal, dbm and CPython's own test suite.
    usr/lib/python3.11/lib-dynload/readline.cpython-311-x86_64-linux-gnu.so
    usr/lib/python3.11/lib-dynload/_curses.cpython-311-x86_64-linux-gnu.so
    usr/lib/python3.11/lib-dynload/_curses_panel.cpython-311-x86_64-linux-gnu.so
    usr/lib/python3.11/lib-dynload/_dbm.cpython-311-x86_64-linux-gnu.so
    usr/lib/python3.11/lib-dynload/nis.cpython-311-x86_64-linux-gnu.so
    usr/lib/python3.11/lib-dynload/_ctypes_test.cpython-311-x86_64-linux-gnu.so
    usr/lib/python3.11/lib-dynload/_xxtestfuzz.cpython-311-x86_64-linux-gnu.so
    usr/lib/python3.11/lib-dynload/_xxsubinterpreters.cpython-311-x86_64-linux-gnu.so
    etc/alternatives etc/debconf.conf etc/hostname etc/resolv.conf etc/fstab etc/rmt
    dev/console dev/full dev/null dev/ptmx dev/random dev/tty dev/urandom dev/zero dev/fd
    dev/pts dev/shm dev/stdin dev/stdout dev/stderr
)

rm -rf "$OUT/rootfs" "$OUT/debs"
mkdir -p "$OUT/rootfs" "$OUT/debs"
OUT="$(cd "$OUT" && pwd)"
ROOTFS="$OUT/rootfs"

# The extract variant runs no maintainer scripts and only --extract-hook hooks.
mmdebstrap --quiet --mode=root --variant=extract --include="$INCLUDE" \
    --extract-hook="cp \"\$1\"/var/cache/apt/archives/*.deb '$OUT/debs/'" \
    "$SUITE" "$ROOTFS" \
    "deb $MIRROR $SUITE main" \
    "deb $MIRROR $SUITE-updates main" \
    "deb $SECURITY_MIRROR $SUITE-security main"

deb_of() { ls "$OUT"/debs/"$1"_*.deb; }

for pkg in "${DROP_PACKAGES[@]}"; do
    deb="$(ls "$OUT"/debs/"$pkg"_*.deb 2>/dev/null || true)"
    [[ -n "$deb" ]] || continue
    # Files and links only; shared directories stay.
    dpkg-deb --fsys-tarfile "$deb" | tar -t | grep -v '/$' | sed 's|^\./||' | while read -r path; do
        rm -f "$ROOTFS/$path"
    done
    rm -f "$deb"
done
for path in "${DROP_PATHS[@]}"; do
    rm -rf "${ROOTFS:?}/$path"
done
rm -f "$ROOTFS"/usr/lib/python3.11/lib-dynload/{_test,xxlimited}*.so
# Keep each package's copyright file (licences, read by SBOM tools); drop the rest of the docs.
find "$ROOTFS/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$ROOTFS" -xdev -type d -empty ! -path "$ROOTFS/dev" -delete 2>/dev/null || true

# No maintainer scripts ran, so build what they would have: the CA bundle and python3 links.
mkdir -p "$ROOTFS/etc/ssl/certs"
find "$ROOTFS/usr/share/ca-certificates" -name '*.crt' | LC_ALL=C sort | xargs cat \
    > "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
ln -sf python3.11 "$ROOTFS/usr/bin/python3"
ln -sf python3.11 "$ROOTFS/usr/bin/python"
ln -sf /usr/share/zoneinfo/Etc/UTC "$ROOTFS/etc/localtime"
echo "Etc/UTC" > "$ROOTFS/etc/timezone"

# Users: root and the nonroot user every distroless image has (uid/gid 65532).
cat > "$ROOTFS/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat > "$ROOTFS/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nonroot:x:65532:
EOF
cat > "$ROOTFS/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF

# Mount points and writable places the runtimes expect.
mkdir -p "$ROOTFS"/{proc,sys,dev,tmp,app,root,home/nonroot,etc/ssl/private}
chmod 1777 "$ROOTFS/tmp"
chmod 0700 "$ROOTFS/root"
chown 65532:65532 "$ROOTFS/home/nonroot"

# SBOM: one status file per package left in the tree.
mkdir -p "$ROOTFS/var/lib/dpkg/status.d"
for deb in "$OUT"/debs/*.deb; do
    name="$(dpkg-deb -f "$deb" Package)"
    {
        echo "Package: $name"
        echo "Status: install ok installed"
        dpkg-deb -f "$deb" | grep -v '^Package:'
    } > "$ROOTFS/var/lib/dpkg/status.d/$name"
    # An md5sums file per package tells SBOM tools which files it owns.
    dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./md5sums 2>/dev/null \
        > "$ROOTFS/var/lib/dpkg/status.d/$name.md5sums" || true
    [[ -s "$ROOTFS/var/lib/dpkg/status.d/$name.md5sums" ]] \
        || rm -f "$ROOTFS/var/lib/dpkg/status.d/$name.md5sums"
done

# Byte-compile the standard library with the image's own interpreter. A read-only root cannot
# cache .pyc files at run time, and unchecked-hash .pyc files carry no timestamp.
chroot "$ROOTFS" /usr/bin/python3.11 -I -m compileall -q -j 1 -o 0 \
    --invalidation-mode unchecked-hash /usr/lib/python3.11 >/dev/null

rm -rf "$OUT/debs"
echo "make-rootfs: $(du -sh "$ROOTFS" | cut -f1) in $ROOTFS"
