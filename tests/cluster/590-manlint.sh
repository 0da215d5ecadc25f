#!/bin/bash
# Man pages: every page in man/ passes `mandoc -T lint` without a single
# warning, is listed in man/local.mk, every long option a program prints
# with --help is documented in its page (shoal-admin's commands too), and
# every shoal-admin command a page shows is one the CLI accepts.
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
# Every shoal-admin command a page shows (.Dl lines and literal displays,
# "\e" continuations joined) is one the CLI accepts as written: run against
# a port where no master listens, it may fail for want of a master (exit
# 3), never with a usage error (exit 2) -- a page and the CLI cannot drift.
# The pages' placeholders: ID is an id, $SHOAL_CONF a configuration file,
# another $..._PORT a port, any other $VARIABLE a directory; a pipe ends
# the command.
printf 'cluster: { masters = "127.0.0.1:1"; };\n' >"${SCRATCH:-/tmp}/590.conf"
ncmd=0
while IFS= read -r cmd; do
	[ -n "$cmd" ] || continue
	ncmd=$((ncmd + 1))
	line=${cmd%% | *}
	read -ra args <<<"${line#shoal-admin }"
	for i in "${!args[@]}"; do
		case ${args[i]} in
		ID) args[i]=3 ;;
		'$SHOAL_CONF') args[i]=${SCRATCH:-/tmp}/590.conf ;;
		'$'*_PORT) args[i]=1023 ;;
		'$'*) args[i]=${SCRATCH:-/tmp}/590-conf.d ;;
		esac
	done
	out=$("$BUILD/admin/shoal-admin" --masters 127.0.0.1:1 --timeout-ms 200 --control-port 1023 \
		--conf-dir "${SCRATCH:-/tmp}/590-conf.d" "${args[@]}" 2>&1 </dev/null)
	rc=$?
	[ $rc = 2 ] && fail "a page shows '$cmd', which shoal-admin refuses: $out"
	[ $rc = 0 ] && fail "'$cmd' succeeded with no master to ask: $out"
done < <(for p in "${pages[@]}"; do
	awk '/^\.Bd -literal/ { lit = 1; next } /^\.Ed/ { lit = 0; next }
		{ l = $0; sub(/^\.Dl /, "", l) }
		(lit || /^\.Dl /) && (cont || l ~ /^shoal-admin /) {
			sub(/[ \t]+#.*$/, "", l)
			if (l ~ /\\e$/) { sub(/[ \t]*\\e$/, " ", l); acc = acc l; cont = 1; next }
			print acc l; acc = ""; cont = 0 }' "$p"
done)
((ncmd >= 10)) || fail "only $ncmd shoal-admin commands found in the pages"
echo "the pages show $ncmd shoal-admin commands; the CLI takes each as written"

# config keys of shoal-admin are in shoal.conf(5)
for key in masters timeout_ms json control_port conf_dir; do
	grep -q "^\.It Cm $key " "$SRC/man/shoal.conf.5" || fail "shoal.conf.5 lacks admin key $key"
done

((fails == 0)) || { echo "FAIL: $fails check(s) failed"; exit 1; }
echo "PASS: ${#pages[@]} man pages lint clean and match --help"
