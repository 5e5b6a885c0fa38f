# cfdev-shim function mode for zsh: source this from ~/.zshrc instead of the
# PATH or alias snippet (and keep the install's bin directory off PATH).
# While telemetry is off or undecided, or DO_NOT_TRACK is set, `cf` runs the
# real cf directly: no wrapper process at all. It goes through cfdev-shim only
# while telemetry is on, and for `cf dev …` (the first-start question, the
# telemetry switch) and `cf -v …`. The wrapper keeps the file `telemetry-on`
# beside its config in step with the stored choice; this reads nothing else.
cf() {
  case "${1-}" in
    dev | -v) "@BIN@/cfdev-shim" cf "$@"; return ;;
  esac
  if [ -n "${DO_NOT_TRACK-}" ] && [ "$DO_NOT_TRACK" != 0 ]; then
    command cf "$@"; return
  fi
  case "${CFDEV_SHIM_TELEMETRY-}" in
    [Oo][Nn] | 1 | [Tt][Rr][Uu][Ee] | [Yy][Ee][Ss]) "@BIN@/cfdev-shim" cf "$@"; return ;;
    [Oo][Ff][Ff] | 0 | [Ff][Aa][Ll][Ss][Ee] | [Nn][Oo]) command cf "$@"; return ;;
  esac
  # Where the wrapper keeps its config: CFDEV_SHIM_HOME, else the XDG
  # config directory (a relative XDG_CONFIG_HOME is ignored, as it does).
  local config="${CFDEV_SHIM_HOME-}"
  if [ -z "$config" ]; then
    case "${XDG_CONFIG_HOME-}" in
      /*) config="$XDG_CONFIG_HOME/cfdev-shim" ;;
      *) config="$HOME/.config/cfdev-shim" ;;
    esac
  fi
  if [ -e "$config/telemetry-on" ]; then
    "@BIN@/cfdev-shim" cf "$@"
  else
    command cf "$@"
  fi
}
