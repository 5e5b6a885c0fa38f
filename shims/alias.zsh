# cfdev-shim alias mode for zsh: source this instead of the PATH snippet.
alias cf='@BIN@/cfdev-shim cf'
