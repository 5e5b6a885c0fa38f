# cfdev-shim alias mode for fish: source this instead of the PATH snippet.
function cf --wraps cf --description 'cf through cfdev-shim'
    "@BIN@/cfdev-shim" cf $argv
end
