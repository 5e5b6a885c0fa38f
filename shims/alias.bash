# cfdev-shim alias mode for bash: source this instead of the PATH snippet.
alias cf='@BIN@/cfdev-shim cf'
