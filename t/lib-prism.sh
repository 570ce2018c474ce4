# t/lib-prism.sh - a vendor's own OpenAPI spec as a validating mock
# (Stoplight Prism, through the conformance kit in ../shared/conformance).
#
# Sourced after lib.sh:
#
#   . "$RX_TESTS/lib-prism.sh"
#   prism_start hubspot-contacts.json      # at the top level; sets PRISM_URL
#   test_expect_success '...' '
#       rx-push --profile hubspot-contacts --url "$PRISM_URL" <changes >acks &&
#       prism_clean hubspot-contacts       # no request broke the spec
#   '
#
# The kit is found at $RX_CONFORMANCE (default ../shared/conformance beside
# the project) and Prism where its setup.sh installs it ($RX_PRISM_DIR);
# when either is missing the script is skipped, saying which.  Each
# script keeps Prism's state in its own directory and stops it at the end.

RX_CONFORMANCE=${RX_CONFORMANCE:-$(cd "$RX_TOP/.." && pwd)/shared/conformance}
# a worktree one level deeper (wt/NAME) finds the kit beside its parent
[ -f "$RX_CONFORMANCE/run.sh" ] || [ ! -f "$RX_TOP/../../shared/conformance/run.sh" ] ||
	RX_CONFORMANCE=$(cd "$RX_TOP/../.." && pwd)/shared/conformance
[ -x "$RX_CONFORMANCE/run.sh" ] || [ -f "$RX_CONFORMANCE/run.sh" ] ||
	test_skip_all "no conformance kit at $RX_CONFORMANCE (set RX_CONFORMANCE)"
prism_bin=${RX_PRISM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rx-prism}/node_modules/.bin/prism
[ -x "$prism_bin" ] || test_skip_all "Stoplight Prism is not installed (run $RX_CONFORMANCE/setup.sh)"
command -v node >/dev/null || test_skip_all "node is not installed"
RX_CONF_STATE=$TRASH/conformance
export RX_CONF_STATE

# prism_start SPEC: a mock of specs/SPEC; PRISM_URL is its base URL.
prism_start () {
	port=$(bash "$RX_CONFORMANCE/run.sh" start "$RX_CONFORMANCE/specs/$1" 2>"$TRASH/prism-start.err") || {
		echo "prism_start: Prism did not start on $1:" >&2
		cat "$TRASH/prism-start.err" >&2
		return 1
	}
	PRISM_URL=http://127.0.0.1:$port
	test_cleanup "bash '$RX_CONFORMANCE/run.sh' stop"
}

# prism_clean NAME: no request so far broke the spec (the violations are
# listed when one did); NAME is the spec's file name without extension.
prism_clean () {
	bash "$RX_CONFORMANCE/run.sh" violations "$1" -v
}

# prism_start_file FILE NAME: a mock of a spec file of the test's own (a
# vendor's spec the test derived, in $TRASH); PRISM_URL is its base URL,
# and prism_clean NAME reads its violations.
prism_start_file () {
	port=$(bash "$RX_CONFORMANCE/run.sh" start "$1" "$2" 2>"$TRASH/prism-start.err") || {
		echo "prism_start_file: Prism did not start on $1:" >&2
		cat "$TRASH/prism-start.err" >&2
		return 1
	}
	PRISM_URL=http://127.0.0.1:$port
	test_cleanup "bash '$RX_CONFORMANCE/run.sh' stop"
}
