#!/bin/bash
# Man pages: every page in man/ passes `mandoc -T lint` without a single
# warning, is listed in man/local.mk, and every long option a program
# prints with --help is documented in its page (shoal-admin's commands too).
set -uo pipefail
: "${BUILD:?}"
SRC=${SHOAL_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v mandoc >/dev/null || { echo "FAIL: mandoc not installed (apt-get install mandoc)"; exit 1; }
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

pages=("$SRC"/man/*.[1-9])
[ ${#pages[@]} -ge 3 ] || fail "fewer than 3 man pages in man/"
for p in "${pages[@]}"; do
	out=$(mandoc -T lint -W warning "$p" 2>&1)
	rc=$?
	[ $rc = 0 ] && [ -z "$out" ] || fail "mandoc lint: ${out:-exit $rc}"
	grep -q "man/$(basename "$p")" "$SRC/man/local.mk" || fail "$(basename "$p") not in man/local.mk"
done
for need in shoal.7 shoal.conf.5 shoal-admin.8; do
	[ -f "$SRC/man/$need" ] || fail "man/$need missing"
done

# program page: every --option of `program --help` appears in the rendered
# page (mdoc or man(7) alike)
check_options() {
	local prog=$1 page=$2 opt text
	[ -x "$prog" ] || { fail "$prog not built"; return; }
	[ -f "$page" ] || { fail "$(basename "$page") missing for $(basename "$prog")"; return; }
	text=$(mandoc -T ascii "$page" 2>/dev/null | col -bx)
	for opt in $("$prog" --help | grep -o -- '--\(\[no-\]\)\{0,1\}[a-z][a-z0-9-]*' | sed 's/--\[no-\]/--/' | sort -u); do
		grep -qE -- "(^|[^a-z0-9-])(--|--\\[no-\\])${opt#--}([^a-z0-9-]|\$)" <<<"$text" ||
			fail "$(basename "$page"): option $opt of $(basename "$prog") --help is not documented"
	done
}
check_options "$BUILD/admin/shoal-admin" "$SRC/man/shoal-admin.8"
[ -f "$SRC/man/shoal-master.8" ] && check_options "$BUILD/master/shoal-master" "$SRC/man/shoal-master.8"
[ -f "$SRC/man/shoal-chunkserver.8" ] && check_options "$BUILD/chunkserver/shoal-chunkserver" "$SRC/man/shoal-chunkserver.8"

# shoal-admin: every command of --help is in the page's SYNOPSIS
"$BUILD/admin/shoal-admin" --help | sed -n 's/^  \(volume\|chunkserver\|cluster\|master\|lun\) \([a-z]*\).*/\1 \2/p' |
	while read -r group sub; do
		grep -q "^\.Cm $group $sub\$" "$SRC/man/shoal-admin.8" || echo "$group $sub"
	done >"${SCRATCH:-/tmp}/missing-cmds"
[ -s "${SCRATCH:-/tmp}/missing-cmds" ] && fail "shoal-admin.8 lacks commands: $(tr '\n' ',' <"${SCRATCH:-/tmp}/missing-cmds")"
# config keys of shoal-admin are in shoal.conf(5)
for key in masters timeout_ms json control_port conf_dir; do
	grep -q "^\.It Cm $key " "$SRC/man/shoal.conf.5" || fail "shoal.conf.5 lacks admin key $key"
done

((fails == 0)) || { echo "FAIL: $fails check(s) failed"; exit 1; }
echo "PASS: ${#pages[@]} man pages lint clean and match --help"
