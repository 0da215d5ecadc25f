# Sourced by 7fail-lib.sh and by the fault scripts its scenarios hand to
# their tools (not a scenario itself): dropping one process's TCP flows.
# Every daemon shares 127.0.0.1, so a "host" is picked out by its flows:
# the established connections of its PID (ss), matched by port pair.

# pid_flows PID: "LOCALPORT PEERPORT" of each established TCP connection of PID.
pid_flows() {
	ss -tnpH state established 2>/dev/null | grep "pid=$1," |
		awk '{ n = split($3, l, ":"); m = split($4, p, ":"); print l[n], p[m] }'
}

# nft_drop_flows TABLE PID DIR [PEERPORT...]: drop the packets of PID's
# established flows (to the given peer ports, or all) in TABLE's chain
# "out": DIR "out" = only what PID sends, "both" = both directions (the host
# is cut off).  Prints one "dropped LOCAL-PEER" line per flow.
nft_drop_flows() {
	local t=$1 pid=$2 dir=$3 lp pp p want
	shift 3
	while read -r lp pp; do
		[ -n "$lp" ] || continue
		if [ $# -gt 0 ]; then
			want=no
			for p in "$@"; do [ "$pp" = "$p" ] && want=yes; done
			[ $want = yes ] || continue
		fi
		nft add rule inet "$t" out tcp sport "$lp" tcp dport "$pp" drop || return 1
		if [ "$dir" = both ]; then
			nft add rule inet "$t" out tcp sport "$pp" tcp dport "$lp" drop || return 1
		fi
		echo "dropped $lp-$pp"
	done < <(pid_flows "$pid")
}
