#!/bin/sh
# make demo's script: a real sync, then only the changed rows.
. "$(dirname "$0")/lib.sh"

cp -R "$RX_TOP/examples" ex && rm -rf ex/demo || exit 1

test_expect_success 'the demo runs and its second sync sends only the six changed rows' '
	bash ex/demo.sh >out 2>err &&
	test_grep "^run 1: 3000 rows read: 3000 new, 0 changed, 0 gone, 0 unchanged; 3000 changes sent, 3000 acked, 0 dead-lettered" out &&
	test_grep "^run 2: 3000 rows read: 1 new, 4 changed, 1 gone, 2995 unchanged; 6 changes sent, 6 acked, 0 dead-lettered" out &&
	test_grep "^run 3: .* 0 changes sent" out &&
	test_grep "^rows in app.db: 3000 (the model has 3000)" out
'

test_expect_success 'the app database holds the changes' '
	sqlite3 ex/demo/app.db "select plan from customers where id = \"C00010\"; select count(*) from customers where id = \"C00050\"; select name from customers where id = \"C03001\"" >actual &&
	printf "enterprise\n0\nZoë Ångström\n" >expect &&
	test_cmp expect actual
'

test_done
