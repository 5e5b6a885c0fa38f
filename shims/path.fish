# cfdev-shim for fish: source this from ~/.config/fish/config.fish.
# Either put the install's bin directory (with its `cf` link) first on PATH …
set -gx PATH "@BIN@" $PATH
# … or, if you prefer an alias, comment the line above and use:
# alias cf '@BIN@/cfdev-shim cf'
