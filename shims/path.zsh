# cfdev-shim for zsh: source this from ~/.zshrc.
# Either put the install's bin directory (with its `cf` link) first on PATH …
export PATH="@BIN@:$PATH"
# … or, if you prefer an alias, comment the line above and use:
# alias cf='@BIN@/cfdev-shim cf'
