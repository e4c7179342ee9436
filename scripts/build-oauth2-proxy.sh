#!/usr/bin/env bash
# Builds oauth2-proxy for the end-to-end test e2e/oauth2proxy_test.go, from
# its Go module through the Go module proxy (`go install`), into a cache
# folder kept across runs:
#
#   ${GATEHOUSE_E2E_CACHE:-$HOME/.cache/gatehouse-e2e}/oauth2-proxy-<version>/oauth2-proxy
#
# A no-op when that binary is already there and was built from the pinned
# module version (checked with `go version -m`). The first build downloads
# its modules and compiles them: about 2 minutes of compiling on 2 cores,
# 4 to 7 minutes in all with an empty module cache.
# oauth2-proxy is deliberately not in go.mod: it is a test tool, not a
# dependency of Gatehouse.
#
# Prints the binary's path on standard output (progress goes to standard
# error), e.g. GATEHOUSE_OAUTH2_PROXY=$(scripts/build-oauth2-proxy.sh).
# Any failure exits non-zero. OAUTH2_PROXY_VERSION overrides the version
# (e2e/oauth2proxy_test.go expects v7.15.6 in the cache folder).
set -euo pipefail
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"

module=github.com/oauth2-proxy/oauth2-proxy/v7
version=${OAUTH2_PROXY_VERSION:-v7.15.6}
cache=${GATEHOUSE_E2E_CACHE:-$HOME/.cache/gatehouse-e2e}
dir="$cache/oauth2-proxy-$version"
bin="$dir/oauth2-proxy"

# built_ok BINARY: true when BINARY was built from $module at $version.
built_ok() {
	[ -x "$1" ] && go version -m "$1" 2>/dev/null |
		awk -v m="$module" -v v="$version" '$1 == "mod" && $2 == m && $3 == v { ok = 1 } END { exit !ok }'
}

if built_ok "$bin"; then
	echo "oauth2-proxy $version already built: $bin" >&2
	echo "$bin"
	exit 0
fi

echo "building oauth2-proxy $version (go install $module@$version)" >&2
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
# Outside any module, so that Gatehouse's go.mod plays no part; GOFLAGS
# from the environment (e.g. -mod=vendor) would not apply to it either.
(
	cd "$tmp"
	GOFLAGS=-buildvcs=false GOBIN="$tmp" CGO_ENABLED=0 \
		go install -trimpath \
		-ldflags "-s -w -X $module/pkg/version.VERSION=$version" \
		"$module@$version" >&2
)
if ! built_ok "$tmp/oauth2-proxy"; then
	echo "error: go install did not produce an oauth2-proxy $version binary" >&2
	exit 1
fi
mv -f "$tmp/oauth2-proxy" "$bin"
echo "built oauth2-proxy $version in $((SECONDS - start))s: $bin" >&2
echo "$bin"
