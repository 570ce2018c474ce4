#!/bin/sh
# Unit tests of filters/lib: compiles t/unit/lib.c with the library's
# sources (with $RX_TEST_CFLAGS, e.g. the sanitizers) and runs it; it
# prints its own TAP.
. "$(dirname "$0")/lib.sh"
libs="$(pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto) $(pkg-config --libs libmariadb) -ljq -lonig -lm"
if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra ${RX_TEST_CFLAGS:-} -I"$RX_TOP/filters/lib" \
	$(pkg-config --cflags libmariadb) \
	-o test-lib "$RX_TOP/t/unit/lib.c" "$RX_TOP"/filters/lib/*.c $libs >build.log 2>&1; then
	echo "1..1"
	echo "not ok 1 - t/unit/lib.c compiles"
	sed 's/^/# /' build.log
	exit 1
fi
./test-lib
