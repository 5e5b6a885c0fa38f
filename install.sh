#!/usr/bin/env bash
# Installs cfdev-shim and cfdev-collector: from an unpacked release archive
# (prebuilt binaries beside this script, checked against its SHA256SUMS; no
# Rust needed) or from a source tree (built with cargo).
#   ./install.sh [--prefix DIR] [--endpoint URL] [--write-key KEY]
#   ./install.sh --uninstall [--purge] [--prefix DIR]
# Every option is checked before anything is built or written. Idempotent;
# never asks a question when stdin is not a terminal; --uninstall removes
# exactly what the install manifest lists (never the real cf), and keeps the
# telemetry choice and pending events unless --purge is given.
set -euo pipefail

prefix=""
endpoint=""
write_key=""
mode="install"
purge=0
src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"

die() { echo "install.sh: $*" >&2; exit 1; }
warn() { echo "warning: $*" >&2; }

usage_error() { die "$* (see ./install.sh --help)"; }
prefix_set=0
endpoint_set=0
write_key_set=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || usage_error "--prefix needs a directory"; prefix="$2"; prefix_set=1; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; prefix_set=1; shift ;;
    --endpoint) [ $# -ge 2 ] || usage_error "--endpoint needs a URL"; endpoint="$2"; endpoint_set=1; shift 2 ;;
    --endpoint=*) endpoint="${1#*=}"; endpoint_set=1; shift ;;
    --write-key) [ $# -ge 2 ] || usage_error "--write-key needs a key"; write_key="$2"; write_key_set=1; shift 2 ;;
    --write-key=*) write_key="${1#*=}"; write_key_set=1; shift ;;
    --uninstall) mode="uninstall"; shift ;;
    --purge) purge=1; shift ;;
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
done

# The wrapper's endpoint rule: an http(s) base URL with a host, without user
# name or password (the write key has its own option), query or fragment.
endpoint_problem() {
  local url="$1" rest authority port
  case "$url" in
    http://*) rest="${url#http://}" ;;
    https://*) rest="${url#https://}" ;;
    *) echo "must start with http:// or https://"; return ;;
  esac
  case "$url" in *[[:space:]]*) echo "must not contain spaces"; return ;; esac
  case "$url" in *'?'* | *'#'*) echo "must not have a query (?) or fragment (#)"; return ;; esac
  authority="${rest%%/*}"
  case "$authority" in *@*) echo "must not hold a user name or password (give the key with --write-key)"; return ;; esac
  case "$authority" in '' | :*) echo "has no host"; return ;; esac
  case "$authority" in
    \[*\]) ;;
    \[*\]:* | [!\[]*:*)
      port="${authority##*:}"
      case "$port" in '' | *[!0-9]*) echo "has a bad port '$port'"; return ;; esac
      [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || { echo "has a bad port '$port'"; return; } ;;
  esac
}

# The nearest existing ancestor made canonical, plus the rest: where the
# prefix really is, before it exists.
canonical() {
  local path="$1" tail=""
  while [ ! -d "$path" ]; do
    tail="/$(basename "$path")$tail"
    path="$(dirname "$path")"
  done
  printf '%s%s\n' "$(cd "$path" && pwd -P)" "$tail"
}

is_system_dir() {
  case "$1/" in "${HOME:-/nonexistent}"/*) return 1 ;; esac
  case "$1" in
    / | /usr | /usr/* | /opt | /opt/* | /bin | /bin/* | /sbin | /sbin/* | /lib* | /etc | /etc/* | /var | /var/* | /snap | /snap/*) return 0 ;;
  esac
  return 1
}

# --- Every option is checked here, before anything is built or written. ---
if [ "$mode" = uninstall ]; then
  [ "$endpoint_set$write_key_set" = 00 ] || usage_error "--endpoint and --write-key go with an install, not --uninstall"
else
  [ "$purge" = 0 ] || usage_error "--purge goes with --uninstall"
  [ "$write_key_set" = 0 ] || [ "$endpoint_set" = 1 ] || usage_error "--write-key needs --endpoint"
  if [ "$endpoint_set" = 1 ]; then
    problem="$(endpoint_problem "$endpoint")"
    [ -z "$problem" ] || usage_error "--endpoint '$endpoint' $problem"
    [ "$write_key_set" = 0 ] || [ -n "$write_key" ] || usage_error "--write-key must not be empty"
  fi
fi
if [ "$prefix_set" = 0 ]; then
  [ -n "${HOME:-}" ] || usage_error "HOME is not set: give --prefix DIR"
  prefix="$HOME/.cfdev-shim"
fi
[ -n "$prefix" ] || usage_error "--prefix must not be empty"
case "$prefix" in
  *[\"\$\`\\\'\|]* | *$'\n'*) usage_error "--prefix '$prefix' holds a character the shell snippets cannot quote" ;;
esac
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
prefix="$(canonical "$prefix")"
case "$prefix/" in
  "$src"/*) usage_error "--prefix $prefix is inside $src: install somewhere else (default ~/.cfdev-shim)" ;;
esac
bin="$prefix/bin"
manifest="$prefix/.install-manifest"

if [ "$mode" = install ] && is_system_dir "$prefix"; then
  warn "$prefix is a system directory: bin/, shims/, share/ and a manifest will be written into it (the .deb is the packaged way to install system-wide)"
  if [ -t 0 ]; then
    printf 'Install into %s? [y/N] ' "$prefix" >&2
    read -r answer || answer=""
    case "$answer" in [Yy] | [Yy][Ee][Ss]) ;; *) die "not installed" ;; esac
  fi
fi

from=""
if [ "$mode" = uninstall ]; then
  :
elif [ -x "$src/cfdev-shim" ] && [ -x "$src/cfdev-collector" ]; then
  from="archive"
elif [ -f "$src/Cargo.toml" ]; then
  from="source"
else
  die "neither prebuilt binaries nor a source tree beside install.sh ($src)"
fi

if [ "$from" = archive ]; then
  if [ -f "$src/SHA256SUMS" ]; then
    if command -v sha256sum >/dev/null 2>&1; then
      check=(sha256sum --quiet -c SHA256SUMS)
    else
      check=(shasum -a 256 --quiet -c SHA256SUMS)
    fi
    (cd "$src" && "${check[@]}" >&2) || die "the files beside install.sh do not match SHA256SUMS: the archive is damaged or was changed"
  else
    warn "no SHA256SUMS beside install.sh: the prebuilt binaries are not verified"
  fi
  "$src/cfdev-shim" --version >/dev/null 2>&1 \
    || die "the prebuilt cfdev-shim does not run here (it is built for Linux x86_64): build from a source tree instead"
  if [ "$endpoint_set" = 1 ]; then
    # The wrapper's own endpoint rule as well, stored into a scratch state root.
    scratch="$(mktemp -d)"
    why="$(CFDEV_SHIM_HOME="$scratch" "$src/cfdev-shim" telemetry endpoint "$endpoint" 2>&1 >/dev/null)" || {
      rm -rf -- "$scratch"
      usage_error "--endpoint '$endpoint': ${why#cfdev-shim: }"
    }
    rm -rf -- "$scratch"
  fi
fi

# --- Reading the wrapper's own view of its state. ---

# One string or number field of `telemetry status --json`.
json_field() {
  printf '%s\n' "$1" | sed -n -e "s/^ *\"$2\": *\"\(.*\)\",\{0,1\}\$/\1/p" -e "s/^ *\"$2\": *\([0-9][0-9]*\),\{0,1\}\$/\1/p" | head -1
}

status_json() {
  [ -x "$bin/cfdev-shim" ] && "$bin/cfdev-shim" telemetry status --json 2>/dev/null || true
}

# Where the wrapper keeps its config and its data, as it resolves them.
state_dirs() {
  local json="$1" config state
  config="$(json_field "$json" config)"
  state="$(json_field "$json" state)"
  if [ -n "$config" ] && [ -n "$state" ]; then
    config_dir="$(dirname "$config")"
    data_dir="$(dirname "$state")"
  elif [ -n "${CFDEV_SHIM_HOME:-}" ]; then
    config_dir="$CFDEV_SHIM_HOME"
    data_dir="$CFDEV_SHIM_HOME"
  else
    case "${XDG_CONFIG_HOME:-}" in /*) config_dir="$XDG_CONFIG_HOME/cfdev-shim" ;; *) config_dir="$HOME/.config/cfdev-shim" ;; esac
    case "${XDG_DATA_HOME:-}" in /*) data_dir="$XDG_DATA_HOME/cfdev-shim" ;; *) data_dir="$HOME/.local/share/cfdev-shim" ;; esac
  fi
}

telemetry_line() {
  local json="$1" state reason
  state="$(json_field "$json" telemetry)"
  reason="$(json_field "$json" reason)"
  case "$state" in
    on) echo "Telemetry is ON ($reason): see what is recorded with cfdev-shim telemetry show; turn it off with cfdev-shim telemetry off." ;;
    off) echo "Telemetry is OFF ($reason): nothing is captured." ;;
    undecided) echo "Telemetry is not decided yet: nothing is captured until you opt in (cf dev start asks once; or: cfdev-shim telemetry on)." ;;
    paused) echo "Telemetry is paused: this release collects more kinds of data than you agreed to, so nothing is captured until you answer again (cf dev start asks; or: cfdev-shim telemetry on)." ;;
    *) echo "Telemetry state unknown (cfdev-shim telemetry status says more)." ;;
  esac
}

# --- Uninstall. ---

# Deletes the state files the wrapper writes, by name, and the directories
# only if that left them empty: never anything else in them.
purge_state() {
  local dir names left
  for dir in "$config_dir" "$data_dir"; do
    [ -d "$dir" ] || continue
    rm -f -- "$dir/config.json" "$dir/telemetry-on" "$dir/state.json" "$dir/state.lock" "$dir/install-id" \
      "$dir/delivery.lock" "$dir/last-attempt" "$dir/retry-after" \
      "$dir"/.config.json.*.tmp "$dir"/.state.json.*.tmp "$dir"/.install-id.*.tmp
    if [ -d "$dir/spool" ]; then
      rm -f -- "$dir/spool/events.jsonl" "$dir/spool/events.lock" "$dir"/spool/.events.jsonl.*.tmp "$dir"/spool/.probe-*
      rmdir -- "$dir/spool" 2>/dev/null || true
    fi
    rmdir -- "$dir" 2>/dev/null || true
  done
  for dir in "$config_dir" "$data_dir"; do
    [ -d "$dir" ] || continue
    left="$(find "$dir" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
    [ "$left" = 0 ] || echo "Left $left other entries in $dir (not written by cfdev-shim)."
  done
}

state_places() {
  if [ "$config_dir" = "$data_dir" ]; then echo "$config_dir"; else echo "$config_dir and $data_dir"; fi
}

uninstall() {
  local json stored pending
  json="$(status_json)"
  state_dirs "$json"
  stored="$(json_field "$json" stored_choice)"
  pending="$(json_field "$json" pending)"
  if [ "$purge" = 1 ] && [ "$stored" = on ]; then
    # Opting out first: the Telemetry Off event gets its one short attempt.
    "$bin/cfdev-shim" telemetry off >/dev/null 2>&1 || true
  fi
  if [ ! -f "$manifest" ]; then
    echo "Nothing to uninstall in $prefix (no install manifest)."
  else
    while IFS= read -r path; do
      case "$path" in "$prefix"/*) rm -f -- "$path" ;; esac
    done < "$manifest"
    rm -f -- "$manifest"
    for dir in share/fish/vendor_completions.d share/fish share/zsh/site-functions share/zsh \
      share/bash-completion/completions share/bash-completion share/man/man1 share/man share shims bin; do
      rmdir -- "$prefix/$dir" 2>/dev/null || true
    done
    rmdir -- "$prefix" 2>/dev/null || true
    echo "Removed cfdev-shim from $prefix."
  fi
  if [ "$purge" = 1 ]; then
    purge_state
    echo "Deleted the recorded telemetry choice and any pending events (the files cfdev-shim wrote in $(state_places))."
  elif [ -n "$stored" ] && [ "$stored" != undecided ] || [ "${pending:-0}" != 0 ]; then
    echo "Kept your telemetry choice (${stored:-unknown}) and ${pending:-0} pending event(s) in $(state_places); ./install.sh --uninstall --purge deletes them."
  else
    echo "No telemetry choice or pending events were stored."
  fi
  echo "Remove the cfdev-shim line from your shell profile if you added one."
}

# --- Install. ---

# Source tree: the release binaries and the xtask that writes completions and
# man pages from the clap definitions.
build() {
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs) first, or use a release archive"
  local host
  host="$(rustc -vV | sed -n 's/^host: //p')"
  out="$src/target/$host/release"
  # A static, non-relocatable binary starts faster (no dynamic loader, no
  # self-relocation) — the exec path is all startup. Fall back to a normal
  # build where static linking fails. Must match bench/overhead.
  if [[ "$host" == *-linux-gnu ]] && (cd "$src" && \
     RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" cargo build --release --locked --target "$host" \
       -p cfdev-shim -p cfdev-collector -p xtask >&2); then
    :
  else
    (cd "$src" && cargo build --release --locked --target "$host" -p cfdev-shim -p cfdev-collector -p xtask >&2) \
      || die "build failed"
  fi
  generated="$src/target/generated-docs"
  rm -rf "$generated"
  "$out/xtask" docs "$generated" >&2 || die "generating completions and man pages failed"
}

# Copies $1 to $2 (mode $3) through a temporary name, and lists it.
put() {
  cp -f "$1" "$2.new.$$" && chmod "$3" "$2.new.$$" && mv -f "$2.new.$$" "$2"
  files+=("$2")
}

# A snippet with @BIN@ replaced (bash's own replacement: no sed metacharacters).
put_snippet() {
  local text
  text="$(cat "$1")"
  printf '%s\n' "${text//@BIN@/"$bin"}" > "$2.new.$$"
  chmod "$3" "$2.new.$$" && mv -f "$2.new.$$" "$2"
  files+=("$2")
}

install() {
  local docs_dir was_installed=0
  [ -f "$manifest" ] && was_installed=1
  if [ "$from" = source ]; then
    build
    docs_dir="$generated"
  else
    out="$src"
    docs_dir="$src"
  fi
  local share="$prefix/share"
  mkdir -p "$bin" "$prefix/shims" "$share/man/man1" "$share/bash-completion/completions" \
    "$share/zsh/site-functions" "$share/fish/vendor_completions.d"
  chmod 0755 "$prefix" "$bin"
  files=()
  put "$out/cfdev-shim" "$bin/cfdev-shim" 0755
  put "$out/cfdev-collector" "$bin/cfdev-collector" 0755
  ln -sfn cfdev-shim "$bin/cf"
  files+=("$bin/cf")
  local snippet name page cmd
  for snippet in "$src"/shims/*; do
    name="$(basename "$snippet")"
    if [ "$name" = cf ]; then put_snippet "$snippet" "$prefix/shims/$name" 0755; else put_snippet "$snippet" "$prefix/shims/$name" 0644; fi
  done
  for page in "$docs_dir"/man/man1/*.1; do
    put "$page" "$share/man/man1/$(basename "$page")" 0644
  done
  for cmd in cfdev-shim cfdev-collector; do
    put "$docs_dir/completions/$cmd.bash" "$share/bash-completion/completions/$cmd" 0644
    put "$docs_dir/completions/_$cmd" "$share/zsh/site-functions/_$cmd" 0644
    put "$docs_dir/completions/$cmd.fish" "$share/fish/vendor_completions.d/$cmd.fish" 0644
  done
  printf '%s\n' "${files[@]}" > "$manifest"

  if [ -n "$endpoint" ]; then
    if [ -n "$write_key" ]; then
      "$bin/cfdev-shim" telemetry endpoint "$endpoint" --write-key "$write_key" >/dev/null
    else
      "$bin/cfdev-shim" telemetry endpoint "$endpoint" >/dev/null
    fi || die "the endpoint was not stored (cfdev-shim installed in $bin)"
    echo "Events will be delivered to $endpoint (with a write key: $([ -n "$write_key" ] && echo yes || echo no))."
  fi

  local verb="Installed"
  [ "$was_installed" = 0 ] || verb="Reinstalled"
  echo "$verb cfdev-shim $("$bin/cfdev-shim" --version | sed 's/^cfdev-shim //') into $bin (with a cf link), from the $from."
  # The wrapper's own resolver, so install.sh reports what cf will really run.
  if real="$("$bin/cfdev-shim" which-cf 2>/dev/null)"; then
    echo "Real cf found at $real: every cf command is forwarded to it unchanged."
  else
    warn "no real cf found on PATH; install the cf CLI (or set CFDEV_SHIM_REAL_CF) before using cf."
  fi
  telemetry_line "$(status_json)"
  echo
  echo "Add this line to your shell profile (~/.bashrc, ~/.zshrc):"
  echo "  export PATH=\"$bin:\$PATH\""
  echo "(fish: source $prefix/shims/path.fish; alias mode instead: source $prefix/shims/alias.bash;"
  echo " function mode, no wrapper process at all while telemetry is off: source $prefix/shims/function.bash, .zsh or .fish)"
  echo "Man pages: $share/man (found by man once $bin is on PATH); completions: $share/{bash-completion,zsh/site-functions,fish}."
}

if [ "$mode" = uninstall ]; then uninstall; else install; fi
