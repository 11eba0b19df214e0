#!/usr/bin/env bash
# `make image` and `make image-check`: builds deploy/Dockerfile with whatever
# builder this machine has, and smoke-tests the image it made.
#
#   scripts/image.sh build      # make image
#   scripts/image.sh check      # make image-check
#
# Settings (environment):
#   BV_IMAGE          the image's name (default localhost/bv:<workspace version>)
#   BV_IMAGE_BUILDER  docker or buildah (default: docker when its engine answers,
#                     else buildah, installed from Debian's packages if missing)
#   BV_IMAGE_BASES    registry or local (default: registry when the builder can
#                     pull debian:bookworm-slim within 30 s, else local)
#
# Base images. The Dockerfile starts from debian:bookworm-slim and
# rust:1.95-bookworm. Where no container registry is reachable (these
# development machines), `local` makes stand-ins for both and passes their
# names as build arguments:
#   localhost/bv-base/debian:bookworm-slim  debootstrap --variant=minbase of
#       Debian bookworm (main, updates, security; no docs, man pages or
#       locales, as in the slim image)
#   localhost/bv-base/rust:1.95-bookworm    that, with gcc/g++ and this
#       machine's Rust toolchain (it must be the Dockerfile's RUST_VERSION)
# Both are made once and kept; `BV_IMAGE_REBASE=1` makes them again.
#
# buildah runs with chroot isolation: this kind of machine has cgroups in
# hybrid mode, which crun (buildah's OCI runtime on Debian) refuses.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
case "$mode" in
  build | check) ;;
  *) echo "usage: scripts/image.sh build|check" >&2; exit 2 ;;
esac

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
image=${BV_IMAGE:-localhost/bv:$version}
rust_version=$(sed -n 's/^ARG RUST_VERSION=//p' deploy/Dockerfile)
debian_release=$(sed -n 's/^ARG DEBIAN_RELEASE=//p' deploy/Dockerfile)
local_debian=localhost/bv-base/debian:$debian_release-slim
local_rust=localhost/bv-base/rust:$rust_version-$debian_release
export BUILDAH_ISOLATION=chroot

say() { echo "==> image: $*"; }
die() { echo "image: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $*"
  fi
}

# The builder: docker when an engine answers (not only the client), else buildah.
builder=${BV_IMAGE_BUILDER:-}
if [ -z "$builder" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    builder=docker
  else
    builder=buildah
  fi
fi
case "$builder" in
  docker | buildah) ;;
  *) die "BV_IMAGE_BUILDER must be docker or buildah, not '$builder'" ;;
esac
if [ "$builder" = buildah ] && ! command -v buildah >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 ||
    die "no docker engine answers and buildah is not installed: install either"
  say "installing buildah from Debian's packages (no docker engine answers here)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah >/dev/null
fi

has_image() {
  if [ "$builder" = docker ]; then docker image inspect "$1" >/dev/null 2>&1
  else buildah inspect --type image "$1" >/dev/null 2>&1
  fi
}

# ---------------------------------------------------------------------------
# Local base images (no registry reachable)
# ---------------------------------------------------------------------------
make_debian_base() {
  command -v debootstrap >/dev/null 2>&1 || {
    say "installing debootstrap from Debian's packages"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  local work root
  work=$(mktemp -d var/image-base.XXXXXX)
  root=$work/rootfs
  say "debootstrap $debian_release into $root (about a minute)"
  # As the slim image does: keep documentation, man pages and locales out.
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
  cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  debootstrap --variant=minbase "$debian_release" "$root" http://deb.debian.org/debian \
    >"$work/debootstrap.log" 2>&1 || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  # What the slim image has and debootstrap does not: apt drops the packages
  # it downloaded once they are installed, and no documentation, man pages
  # or translations from the first stage (dpkg.cfg.d/slim keeps them out of
  # later installs).
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $debian_release $debian_release-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $debian_release-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # This machine's own certificate authorities (a TLS-inspecting egress proxy,
  # say): Debian's ca-certificates adds /usr/local/share/ca-certificates to the
  # bundle whenever a stage installs it, so pip, apt and cargo in the build
  # reach the registries as the machine does. Only the local stand-in carries
  # them; an image built on the registry's bases does not.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  fi
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*
  tar -C "$root" -cf "$work/rootfs.tar" .
  local ctr
  ctr=$(buildah from scratch)
  buildah add "$ctr" "$work/rootfs.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd bash "$ctr"
  buildah commit -q "$ctr" "$local_debian" >/dev/null
  buildah rm "$ctr" >/dev/null
  rm -rf "$work"
}

make_rust_base() {
  local have sysroot ctr
  have=$(rustc --version 2>/dev/null || true)
  [[ "$have" == "rustc $rust_version."* ]] ||
    die "the local rust base needs this machine's Rust toolchain at $rust_version (the Dockerfile's RUST_VERSION); rustc says: ${have:-nothing}"
  sysroot=$(rustc --print sysroot)
  say "making $local_rust from $local_debian and $have"
  ctr=$(buildah from "$local_debian")
  buildah run "$ctr" -- sh -c 'apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
         ca-certificates gcc g++ libc6-dev make pkg-config >/dev/null \
    && rm -rf /var/lib/apt/lists/*'
  # The toolchain without its documentation and sources (share/): rustc finds
  # its libraries relative to its own binary.
  local part
  for part in bin lib libexec etc; do
    [ -d "$sysroot/$part" ] && buildah copy -q "$ctr" "$sysroot/$part" "/usr/local/rust/$part" >/dev/null
  done
  buildah config \
    --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    "$ctr"
  buildah run "$ctr" -- sh -c 'mkdir -p /usr/local/cargo/bin && cargo --version && rustc --version'
  buildah commit -q "$ctr" "$local_rust" >/dev/null
  buildah rm "$ctr" >/dev/null
}

base_args=()
choose_bases() {
  local bases=${BV_IMAGE_BASES:-}
  if [ -z "$bases" ]; then
    if [ "$builder" = docker ]; then
      bases=registry
    elif has_image "docker.io/library/debian:$debian_release-slim" ||
      timeout 30 buildah pull -q "docker.io/library/debian:$debian_release-slim" >/dev/null 2>&1; then
      bases=registry
    else
      bases=local
      say "no container registry answers: using local base images"
    fi
  fi
  case "$bases" in
    registry) ;;
    local)
      [ "$builder" = buildah ] || die "BV_IMAGE_BASES=local needs buildah"
      mkdir -p var
      if [ "${BV_IMAGE_REBASE:-0}" = 1 ] || ! has_image "$local_debian"; then make_debian_base; fi
      if [ "${BV_IMAGE_REBASE:-0}" = 1 ] || ! has_image "$local_rust"; then make_rust_base; fi
      base_args=(--build-arg "DEBIAN_IMAGE=$local_debian" --build-arg "RUST_IMAGE=$local_rust")
      ;;
    *) die "BV_IMAGE_BASES must be registry or local, not '$bases'" ;;
  esac
}

# The image's size, as the builder counts it.
image_size() {
  if [ "$builder" = docker ]; then
    docker image inspect --format '{{.Size}}' "$image" | numfmt --to=si --suffix=B
  else
    buildah images --format '{{.Size}}' "$image"
  fi
}

build() {
  choose_bases
  local commit
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  say "building $image with $builder (a cold release build takes about 20 minutes on 2 cores)"
  local args=(-f deploy/Dockerfile -t "$image" --build-arg "BV_BUILD_COMMIT=$commit" "${base_args[@]}")
  if [ "$builder" = docker ]; then
    DOCKER_BUILDKIT=1 docker build "${args[@]}" .
  else
    buildah build --layers "${args[@]}" .
  fi
  say "built $image ($(image_size))"
}

# ---------------------------------------------------------------------------
# Smoke test
# ---------------------------------------------------------------------------
failures=0
pass() { echo "  ok   $*"; }
fail() { echo "  FAIL $*"; failures=$((failures + 1)); }

# Runs a command in a fresh container of the image, as the image's user.
# Prints its output; returns its exit status.
in_image() {
  if [ "$builder" = docker ]; then
    local envs=()
    while [ "${1:-}" = -e ]; do envs+=(-e "$2"); shift 2; done
    docker run --rm "${envs[@]}" "$image" "$@"
  else
    local envs=() ctr rc=0 user
    while [ "${1:-}" = -e ]; do envs+=(--env "$2"); shift 2; done
    user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$image")
    ctr=$(buildah from -q "$image")
    buildah run --user "${user:-0}" "${envs[@]}" "$ctr" -- "$@" || rc=$?
    buildah rm "$ctr" >/dev/null
    return "$rc"
  fi
}

config_user() {
  if [ "$builder" = docker ]; then docker image inspect --format '{{.Config.User}}' "$image"
  else buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$image"
  fi
}

check() {
  has_image "$image" || die "no image $image: run make image first"
  say "checking $image with $builder"

  local user uid out rc
  user=$(config_user)
  uid=$(in_image id -u 2>/dev/null || true)
  if [[ "$user" =~ ^[1-9][0-9]*(:[0-9]+)?$ ]] && [ "$uid" = "${user%%:*}" ]; then
    pass "runs as a numeric non-root user ($user; id -u says $uid)"
  else
    fail "runs as root or a named user: USER '$user', id -u '$uid'"
  fi

  local bin
  for bin in bv-ingress bv-worker bvctl; do
    out=$(in_image ldd "/usr/local/bin/$bin" 2>&1 || true)
    if grep -q "not found" <<<"$out" || ! grep -q "=>" <<<"$out"; then
      fail "$bin's libraries: $(grep 'not found' <<<"$out" | tr -s ' \t' ' ' | head -n3)"
    else
      pass "$bin finds every library ($(grep -c '=>' <<<"$out") linked)"
    fi
    out=$(in_image "$bin" --version 2>&1 || true)
    if [[ "$out" == "$bin $version"* ]]; then pass "$bin --version: $out"
    else fail "$bin --version printed '$out'"
    fi
  done

  # A setting that cannot be read is a usage error: exit 2, and the log says which.
  rc=0
  out=$(in_image -e BV__HTTP__ADDR=not-an-address bv-ingress 2>&1) || rc=$?
  if [ "$rc" = 2 ] && grep -q "http.addr\|HTTP__ADDR" <<<"$out"; then
    pass "a bad setting exits 2 and names it"
  else
    fail "BV__HTTP__ADDR=not-an-address: exit $rc, output: $(tail -n2 <<<"$out")"
  fi

  # The biometric role loads (and checks by sha256) the face models before it
  # connects anywhere; the database is given as unreachable, so it gets that far
  # and no further. Its keys come from the image's own bvctl.
  local signing template
  signing=$(in_image bvctl keys generate --kid check 2>/dev/null || true)
  template=$(in_image bvctl keys generate --template --kid check 2>/dev/null || true)
  out=$(in_image -e BV__DATABASE__URL=postgres://bv@127.0.0.1:1/bv -e BV__BIOMETRICS__PRELOAD_MODELS=true \
    -e "BV__BIOMETRICS__SIGNING_KEYS=$signing" -e "BV__BIOMETRICS__TEMPLATE_KEYS=$template" \
    timeout -s INT 15 bv-worker 2>&1 || true)
  if grep -q '"face models loaded"\|face models loaded' <<<"$out"; then
    pass "the worker loads the face models ($(grep -o '"took_ms":[0-9]*' <<<"$out" | head -n1))"
  else
    fail "the worker did not load the face models: $(grep -i 'error\|model' <<<"$out" | tail -n3)"
  fi

  # What the image holds: no dlib data the service never reads, stripped binaries.
  out=$(in_image sh -c 'ls /usr/share/dlib 2>/dev/null | wc -l')
  if [ "$out" = 0 ]; then pass "no unused dlib data (/usr/share/dlib is empty)"
  else fail "/usr/share/dlib holds $out files the service never reads"
  fi
  # A stripped ELF file has no section named .symtab left to name.
  # shellcheck disable=SC2016 # expanded in the container
  out=$(in_image sh -c 'for b in /usr/local/bin/bv-ingress /usr/local/bin/bv-worker /usr/local/bin/bvctl; do
      if [ ! -f "$b" ]; then echo "$b (missing)"; elif grep -q "\.symtab" "$b"; then echo "$b"; fi; done')
  if [ -z "$out" ]; then pass "binaries stripped (no .symtab)"
  else fail "binaries missing or with a symbol table: $(tr "\n" " " <<<"$out")"
  fi

  say "$image: $(image_size)"
  if [ "$failures" -gt 0 ]; then
    echo "image-check: $failures check(s) failed" >&2
    exit 1
  fi
  say "image-check: passed"
}

"$mode"
