#!/bin/sh
# make install PREFIX=... DESTDIR=... puts programs, man pages and
# share/rx where they belong, and the installed programs find share/rx.
. "$(dirname "$0")/lib.sh"

bin=${RX_BIN:-$RX_TOP/bin}
build=build
[ -n "${RX_BIN:-}" ] && build=$(dirname "$RX_BIN")

test_expect_success 'make install into a DESTDIR' '
	make -s -C "$RX_TOP" install PREFIX=/opt/rx DESTDIR="$TRASH/root" BUILD="$build" OUT="$bin" >log 2>&1 &&
	for p in extract diff map batch push; do
		test -x root/opt/rx/bin/rx-$p || return 1
	done &&
	test -f root/opt/rx/share/man/man1/rx-extract.1 &&
	test -f root/opt/rx/share/man/man7/rx.7 &&
	test -f root/opt/rx/share/rx/jq/rx.jq
'

test_expect_success 'the installed programs run' '
	printf "{\"e\":\" A@B.C \"}\n" >in &&
	root/opt/rx/bin/rx-extract --ndjson in >out &&
	test_cmp in out &&
	root/opt/rx/bin/rx-extract --version >v &&
	test_grep "rx-extract (rx)" v
'

test_expect_success 'installed rx-map finds the jq library in PREFIX/share/rx, with no configuration' '
	printf "{\"e\":\"  Ada@Example.COM \"}\n" >in &&
	(unset RX_SHARE && root/opt/rx/bin/rx-map -e "{e: (.e | normalize_email)}" <in >out) &&
	echo "{\"e\":\"ada@example.com\"}" >expect &&
	test_cmp expect out &&
	test_expect_code 2 root/opt/rx/bin/rx-map -e "{e: (.e | no_such_function)}" <in 2>err
'

test_expect_success 'make uninstall removes them' '
	make -s -C "$RX_TOP" uninstall PREFIX=/opt/rx DESTDIR="$TRASH/root" >log 2>&1 &&
	test ! -e root/opt/rx/bin/rx-extract &&
	test ! -e root/opt/rx/share/rx &&
	test ! -e root/opt/rx/share/man/man7/rx.7
'

test_done
