#!/usr/bin/env bash
# Installs cfdev-shim (and cfdev-collector) from this source tree.
#   ./install.sh [--prefix DIR] [--endpoint URL] [--write-key KEY] [--uninstall [--purge]]
# Idempotent; never asks questions; --uninstall removes exactly what the
# manifest says was installed (never the real cf, never the recorded choice
# unless --purge is given).
set -euo pipefail

prefix="${HOME:?HOME must be set}/.cfdev-shim"
endpoint=""
write_key=""
mode="install"
purge=0

die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --endpoint) [ $# -ge 2 ] || die "--endpoint needs a URL"; endpoint="$2"; shift 2 ;;
    --endpoint=*) endpoint="${1#*=}"; shift ;;
    --write-key) [ $# -ge 2 ] || die "--write-key needs a key"; write_key="$2"; shift 2 ;;
    --write-key=*) write_key="${1#*=}"; shift ;;
    --uninstall) mode="uninstall"; shift ;;
    --purge) purge=1; shift ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
bin="$prefix/bin"
manifest="$prefix/.install-manifest"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

uninstall() {
  if [ ! -f "$manifest" ]; then
    echo "Nothing to uninstall in $prefix (no install manifest)."
  else
    if [ "$purge" = 1 ] && [ -x "$bin/cfdev-shim" ]; then
      "$bin/cfdev-shim" telemetry off >/dev/null 2>&1 || true
    fi
    while IFS= read -r path; do
      case "$path" in "$prefix"/*) rm -f -- "$path" ;; esac
    done < "$manifest"
    rm -f -- "$manifest"
    for dir in "$prefix/shims" "$bin" "$prefix"; do
      rmdir -- "$dir" 2>/dev/null || true
    done
    echo "Removed cfdev-shim from $prefix."
  fi
  if [ "$purge" = 1 ]; then
    state="${CFDEV_SHIM_HOME:-}"
    if [ -n "$state" ]; then
      rm -rf -- "$state"
    else
      rm -rf -- "${XDG_CONFIG_HOME:-$HOME/.config}/cfdev-shim" "${XDG_DATA_HOME:-$HOME/.local/share}/cfdev-shim" \
        "$HOME/Library/Application Support/cfdev-shim"
    fi
    echo "Deleted the recorded telemetry choice and any pending events."
  else
    echo "Your telemetry choice was kept (./install.sh --uninstall --purge deletes it)."
  fi
  echo "Remove the cfdev-shim line from your shell profile if you added one."
}

build() {
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs) first"
  cd "$src"
  local host
  host="$(rustc -vV | sed -n 's/^host: //p')"
  out="$src/target/$host/release"
  # A static, non-relocatable binary starts faster (no dynamic loader, no
  # self-relocation) — the exec path is all startup. Fall back to a normal
  # build where static linking fails. Must match bench/overhead.
  if [[ "$host" == *-linux-gnu ]] && \
     RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" cargo build --release --locked --target "$host" \
       -p cfdev-shim -p cfdev-collector >&2; then
    return
  fi
  cargo build --release --locked --target "$host" -p cfdev-shim -p cfdev-collector >&2 \
    || die "build failed"
}

install() {
  build
  mkdir -p "$bin" "$prefix/shims"
  chmod 0755 "$prefix" "$bin"
  local files=()
  cp -f "$out/cfdev-shim" "$bin/.cfdev-shim.new" && mv -f "$bin/.cfdev-shim.new" "$bin/cfdev-shim"
  chmod 0755 "$bin/cfdev-shim"
  files+=("$bin/cfdev-shim")
  cp -f "$out/cfdev-collector" "$bin/.cfdev-collector.new" && mv -f "$bin/.cfdev-collector.new" "$bin/cfdev-collector"
  chmod 0755 "$bin/cfdev-collector"
  files+=("$bin/cfdev-collector")
  ln -sfn cfdev-shim "$bin/cf"
  files+=("$bin/cf")
  for snippet in "$src"/shims/*; do
    local name
    name="$(basename "$snippet")"
    sed "s|@BIN@|$bin|g" "$snippet" > "$prefix/shims/$name"
    if [ "$name" = cf ]; then chmod 0755 "$prefix/shims/$name"; else chmod 0644 "$prefix/shims/$name"; fi
    files+=("$prefix/shims/$name")
  done
  printf '%s\n' "${files[@]}" > "$manifest"

  if [ -n "$endpoint" ]; then
    if [ -n "$write_key" ]; then
      "$bin/cfdev-shim" telemetry endpoint "$endpoint" --write-key "$write_key"
    else
      "$bin/cfdev-shim" telemetry endpoint "$endpoint"
    fi
  elif [ -n "$write_key" ]; then
    die "--write-key needs --endpoint"
  fi

  echo "Installed cfdev-shim $("$bin/cfdev-shim" --version | sed 's/^cfdev-shim //') into $bin (with a cf link)."
  # The wrapper's own resolver, so install.sh reports what cf will really run.
  if real="$("$bin/cfdev-shim" which-cf 2>/dev/null)"; then
    echo "Real cf found at $real: every cf command is forwarded to it unchanged."
  else
    echo "warning: no real cf found on PATH; install the cf CLI (or set CFDEV_SHIM_REAL_CF) before using cf." >&2
  fi
  echo "Telemetry stays off until you opt in (cf dev start asks once; or: cfdev-shim telemetry on)."
  echo
  echo "Add this line to your shell profile (~/.bashrc, ~/.zshrc):"
  echo "  export PATH=\"$bin:\$PATH\""
  echo "(fish: source $prefix/shims/path.fish; alias mode instead: source $prefix/shims/alias.bash)"
}

if [ "$mode" = uninstall ]; then uninstall; else install; fi
