# cfdev-shim function mode for fish: source this from
# ~/.config/fish/config.fish instead of the PATH or alias snippet (and keep
# the install's bin directory off PATH). While telemetry is off or undecided,
# or DO_NOT_TRACK is set, `cf` runs the real cf directly: no wrapper process
# at all. It goes through cfdev-shim only while telemetry is on, and for
# `cf dev …` (the first-start question, the telemetry switch) and `cf -v …`.
# The wrapper keeps the file `telemetry-on` beside its config in step with the
# stored choice; this reads nothing else.

function cf --wraps cf --description 'cf, through cfdev-shim only while telemetry is on'
    if set -q argv[1]; and contains -- $argv[1] dev -v
        "@BIN@/cfdev-shim" cf $argv
        return
    end
    if set -q DO_NOT_TRACK; and test -n "$DO_NOT_TRACK" -a "$DO_NOT_TRACK" != 0
        command cf $argv
        return
    end
    switch (string lower -- "$CFDEV_SHIM_TELEMETRY")
        case on 1 true yes
            "@BIN@/cfdev-shim" cf $argv
            return
        case off 0 false no
            command cf $argv
            return
    end
    # Where the wrapper keeps its config: CFDEV_SHIM_HOME, else the XDG
    # config directory (a relative XDG_CONFIG_HOME is ignored, as it does).
    set -l config "$CFDEV_SHIM_HOME"
    if test -z "$config"
        if string match -q -- '/*' "$XDG_CONFIG_HOME"
            set config "$XDG_CONFIG_HOME/cfdev-shim"
        else
            set config "$HOME/.config/cfdev-shim"
        end
    end
    if test -e "$config/telemetry-on"
        "@BIN@/cfdev-shim" cf $argv
    else
        command cf $argv
    end
end
