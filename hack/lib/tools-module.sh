# Sourced by hack/build-*.sh, which define log.
#
# tools_module DIR NAME MODULE@VERSION IMPORT: makes DIR, unless it already has a
# go.sum, a throwaway Go module NAME whose tools.go imports IMPORT from MODULE at
# VERSION, so that the tool's dependencies never enter our go.mod.
tools_module() {
  local dir=$1 name=$2 req=$3 import=$4
  [ ! -f "$dir/go.sum" ] || return 0
  rm -rf "$dir"; mkdir -p "$dir"
  (
    cd "$dir"
    go mod init "$name" >/dev/null 2>&1
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$import" > tools.go
    log "resolving $req"
    go mod edit -require "$req"
    go mod tidy >/dev/null
  )
}
