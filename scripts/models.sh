#!/usr/bin/env bash
# The face engine's native libraries, model weights and test photos, fetched
# and checked by hash (README, "Face engine"). Called by run.sh and test.sh;
# a no-op when everything is already there and valid.
#
#   scripts/models.sh [--fixtures] [--no-system]
#
# - System libraries (Debian): libdlib-dev, libopenblas-dev, liblapack-dev,
#   installed with apt-get when missing (as root, or through sudo).
#   --no-system skips them (e.g. a Docker stage that only wants the weights).
# - Weights: the source package of PyPI `face_recognition_models` 0.3.0
#   (dlib's models, CC0 / public domain), pinned by sha256; only
#   shape_predictor_5_face_landmarks.dat (alignment for the embedding),
#   shape_predictor_68_face_landmarks.dat (the head's shape, for liveness)
#   and dlib_face_recognition_resnet_model_v1.dat are kept, each checked by its
#   own sha256, with the package's LICENSE and README, in $BV__BIOMETRICS__MODELS_DIR
#   (default var/models).
# - --fixtures: the test photos of PyPI `face_recognition` 1.3.0's source
#   package (MIT), pinned the same way, in var/fixtures/faces.
set -euo pipefail
cd "$(dirname "$0")/.."

fixtures=false
system=true
for arg in "$@"; do
  case "$arg" in
    --fixtures) fixtures=true ;;
    --no-system) system=false ;;
    *) echo "models.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

models_dir="${BV__BIOMETRICS__MODELS_DIR:-var/models}"
fixtures_dir=var/fixtures/faces
cache=var/cache/pypi

# The source packages, by the sha256 PyPI publishes for them.
MODELS_SDIST=face_recognition_models-0.3.0.tar.gz
MODELS_SDIST_SHA256=b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf
FIXTURES_SDIST=face_recognition-1.3.0.tar.gz
FIXTURES_SDIST_SHA256=5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec

# The files kept from them, each by its own sha256 (checked again by the
# engine when it loads: crates/face-engine/src/models.rs).
MODELS=(
  "shape_predictor_5_face_landmarks.dat c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
  "dlib_face_recognition_resnet_model_v1.dat 55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
  "shape_predictor_68_face_landmarks.dat fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f"
)
FIXTURES=(
  "obama.jpg 0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"
  "obama2.jpg a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6"
  "obama3.jpg 76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3"
  "biden.jpg 3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c"
  "obama_partial_face.jpg c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117"
  "obama_partial_face2.jpg 9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028"
  "32bit.png 44dca895a7d635a4aedddd91a4f37af9a8a5b44e66154282a24645a757b5f627"
)

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Whether every "name sha256" of the list is in the directory, intact.
all_valid() {
  local dir=$1; shift
  local entry name sum
  for entry in "$@"; do
    read -r name sum <<<"$entry"
    [ -f "$dir/$name" ] && [ "$(sha256_of "$dir/$name")" = "$sum" ] || return 1
  done
}

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "models.sh: need root to run: $*" >&2
    return 1
  fi
}

# dlib 19.24, and the BLAS/LAPACK it and the wrapper crate link against
# (the crate's `openblas` feature links -lopenblas, which libopenblas-dev
# provides with the CBLAS symbols: no libcblas symlink is needed).
system_libraries() {
  local missing=()
  local pkg
  for pkg in libdlib-dev libopenblas-dev liblapack-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "models.sh: the face engine needs dlib 19.24, OpenBLAS and LAPACK" \
      "(Debian: ${missing[*]}); install them with your package manager" >&2
    exit 1
  fi
  echo "models.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Downloads a PyPI source package into the cache, checked by its sha256
# (pip checks it, then this script again).
fetch_sdist() {
  local file=$1 sum=$2
  local spec=${file%.tar.gz}
  spec="${spec%-*}==${spec##*-}"
  mkdir -p "$cache"
  if [ -f "$cache/$file" ] && [ "$(sha256_of "$cache/$file")" = "$sum" ]; then
    return 0
  fi
  rm -f "$cache/$file"
  echo "models.sh: downloading $spec (source package) from PyPI" >&2
  local req
  req=$(mktemp)
  echo "$spec --hash=sha256:$sum" > "$req"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary :all: --require-hashes -r "$req" -d "$cache"
  rm -f "$req"
  if [ "$(sha256_of "$cache/$file")" != "$sum" ]; then
    echo "models.sh: $cache/$file does not have the pinned sha256 $sum" >&2
    rm -f "$cache/$file"
    exit 1
  fi
}

# Extracts "name sha256" entries found under `prefix` in the tarball into
# `dest`, with the package's licence files, and checks each.
extract() {
  local tarball=$1 prefix=$2 dest=$3; shift 3
  local top=${tarball##*/}
  top=${top%.tar.gz}
  local tmp
  tmp=$(mktemp -d)
  local members=("$top/LICENSE" "$top/README.rst")
  local entry name sum
  for entry in "$@"; do
    read -r name sum <<<"$entry"
    members+=("$top/$prefix/$name")
  done
  tar --no-same-owner -xzf "$tarball" -C "$tmp" "${members[@]}"
  mkdir -p "$dest"
  for entry in "$@"; do
    read -r name sum <<<"$entry"
    if [ "$(sha256_of "$tmp/$top/$prefix/$name")" != "$sum" ]; then
      echo "models.sh: $name in $tarball does not have the pinned sha256 $sum" >&2
      rm -rf "$tmp"
      exit 1
    fi
    mv -f "$tmp/$top/$prefix/$name" "$dest/$name"
  done
  mv -f "$tmp/$top/LICENSE" "$dest/LICENSE"
  mv -f "$tmp/$top/README.rst" "$dest/README.rst"
  rm -rf "$tmp"
}

if $system; then
  system_libraries
fi

if ! all_valid "$models_dir" "${MODELS[@]}"; then
  fetch_sdist "$MODELS_SDIST" "$MODELS_SDIST_SHA256"
  extract "$cache/$MODELS_SDIST" face_recognition_models/models "$models_dir" "${MODELS[@]}"
  echo "models.sh: face models in $models_dir" >&2
fi

if $fixtures && ! all_valid "$fixtures_dir" "${FIXTURES[@]}"; then
  fetch_sdist "$FIXTURES_SDIST" "$FIXTURES_SDIST_SHA256"
  extract "$cache/$FIXTURES_SDIST" tests/test_images "$fixtures_dir" "${FIXTURES[@]}"
  echo "models.sh: test photos in $fixtures_dir" >&2
fi
