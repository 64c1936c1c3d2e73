# Shared helpers for tools/*.sh. Source it; it sets no shell options of its own.
TOOLS_SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tools/versions.env
source "$TOOLS_SRC_DIR/versions.env"

CACHE_ROOT="${CACHE_ROOT:-/var/cache/sre-ai-platform}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
export PATH="/usr/local/go/bin:$PATH"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# go_throwaway_module DIR MODNAME: an empty module in DIR for building someone else's main.
go_throwaway_module() {
    local dir="$1" name="$2"
    mkdir -p "$dir"
    if [[ ! -f "$dir/go.mod" ]]; then
        (cd "$dir" && "$GO" mod init "$name" >/dev/null 2>&1)
    fi
}

# install_atomic SRC DST: copy a built file into the cache only once it is complete.
install_atomic() {
    install -D -m 0755 "$1" "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"
}
