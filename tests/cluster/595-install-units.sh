#!/bin/bash
# Installing with the shipped units (shoal(7), README "Building by hand"):
# `make install` into a staging root puts every program, the module and the
# three systemd units where configure said, and each unit's ExecStart names
# a program that `make install` put there -- whatever the prefix (the units
# are made from systemd/*.service.in with the configured sbindir).  Also
# checks that no unit still hard-codes /usr/sbin when the prefix is not /usr.
set -uo pipefail
: "${BUILD:?}" "${SCRATCH:?}"
fail() { echo "FAIL 595-install-units: $*"; exit 1; }

root=$SCRATCH/root
rm -rf "$root"
make -C "$BUILD" install DESTDIR="$root" >"$SCRATCH/install.log" 2>&1 ||
	fail "make install DESTDIR=$root: $(tail -n 3 "$SCRATCH/install.log" | tr '\n' ' ')"
cfg() { sed -n "s|^$1 = ||p" "$BUILD/Makefile" | head -n 1; }
prefix=$(cfg prefix)
unitdir=$(cfg systemdunitdir)
[ -n "$prefix" ] && [ -n "$unitdir" ] || fail "no prefix or systemdunitdir in $BUILD/Makefile"
n=0
for u in shoal-master shoal-chunkserver shoal-gateway; do
	f=$root$unitdir/$u.service
	[ -f "$f" ] || fail "$u.service not installed in $unitdir"
	grep -q '@[a-z]*@' "$f" && fail "$u.service has an unsubstituted @...@: $(grep -m1 '@' "$f")"
	while read -r exe; do
		[ -n "$exe" ] || continue
		[ -x "$root$exe" ] || fail "$u.service runs $exe, which make install did not put there (prefix $prefix)"
		case $prefix in
		/usr) ;;
		*) [[ $exe == /usr/sbin/* ]] && fail "$u.service runs $exe although the prefix is $prefix" ;;
		esac
		n=$((n + 1))
	done < <(sed -n 's/^Exec[A-Za-z]*=\([^ ]*\).*/\1/p' "$f")
done
((n >= 3)) || fail "only $n ExecStart lines in the three units"
[ -f "$root/usr/lib/tgt/backing-store/bs_shoal.so" ] || fail "bs_shoal.so not in /usr/lib/tgt/backing-store"
echo "PASS 595: make install (prefix $prefix) put the 3 units in $unitdir; their $n ExecStart programs exist"
