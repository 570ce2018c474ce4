# t/lib-crm.sh - what the CRM destination tests (t/52NN-dest-*.t) share.
#
# Source it after t/lib.sh and t/lib-fake.sh.  A CRM test syncs a small
# warehouse (w.db, table c) into its vendor's fake (t/fake/hubspot.py,
# t/fake/crm.py) through the whole pipeline, mirror mode, and checks that
# the fake holds the model, ids included, after a first run, a kill in
# the middle, and runs with changes and deletes.
#
#   crm_warehouse N      w.db with N customers (unicode names, a few
#                        without an e-mail, big numbers as strings)
#   crm_mutate I         change w.db: some renamed, one e-mail changed,
#                        one customer gone, one new (I varies which)
#   crm_sync STATE [KILLPOINT]   one run of sync.sh (below) into the fake
#   crm_suite STATE      the tests every CRM destination shares (below),
#                        from a new w.db of $CRM_ROWS (40) customers
#
# A test sets, before crm_sync:
#   CRM_PROFILE   the profile (a name, or a path to a copy)
#   CRM_URL       the fake's URL
#   CRM_MAP       the rx-map program (row of table c -> the vendor's fields)
#   CRM_KEY       the sync key: a member of the mapped row (default id)
#   CRM_PUSH      more rx-push options (optional)
#   CRM_FAKE      the fake's name (for fake_count)
#   crm_dest      a function printing the fake's live records, one TSV
#                 line each, sorted, as crm_model prints the model
#   crm_model     a function printing the model (from w.db) the same way
#   crm_ids       a function printing "key<TAB>destination id" of the fake,
#                 sorted (compared with the snapshot's ids)

crm_warehouse () {
	sqlite3 w.db "create table c(id text primary key, email text, name text, domain text, amount text, plan text);
	with recursive n(i) as (select 1 union all select i + 1 from n where i < $1)
	insert into c select printf('C%03d', i),
		case when i % 17 = 0 then null else 'u' || i || '@example.com' end,
		case i % 5 when 0 then 'Zoë Ünal ' || i when 1 then 'Ольга ' || i when 2 then '李 ' || i
			when 3 then 'O''Brien ' || i else 'Ada ' || i end,
		'co' || i || '.example.com',
		case when i % 7 = 0 then '12345678901234567890' else (i * 100) || '.5' end,
		'p' || (i % 3) from n;"
}

crm_mutate () {
	sqlite3 w.db "update c set plan = 'q' || ($1 % 5) where cast(substr(id, 2) as integer) % 7 = $1 % 7;
		update c set email = 'm$1.' || lower(id) || '@example.com'
			where id = (select id from c where email is not null order by id limit 1 offset $1);
		delete from c where id = (select id from c order by id limit 1 offset $(($1 + 3)));
		insert or replace into c values ('N$1', 'n$1@example.com', 'Nová $1', 'new$1.example.com', '1', 'p1');"
}

cat >sync.sh <<'SH'
# sync.sh STATE [KILLPOINT]: the model of w.db into $CRM_PROFILE at $CRM_URL
set -o pipefail
export RX_KILL_AT=${2:-}
rx-extract --sqlite w.db --query 'select * from c order by id' \
| rx-map -e "$CRM_MAP" \
| rx-diff --state "$1" --key "$CRM_KEY" --mode mirror --max-delete-ratio 1 \
| rx-batch --profile "$CRM_PROFILE" \
| rx-push --profile "$CRM_PROFILE" --url "$CRM_URL" --retry-base 10 $CRM_PUSH 2>>dead.ndjson \
| rx-diff --state "$1" --commit
SH

crm_sync () {
	CRM_PROFILE=$CRM_PROFILE CRM_URL=$CRM_URL CRM_MAP=$CRM_MAP CRM_KEY=${CRM_KEY:-id} CRM_PUSH=${CRM_PUSH:-} bash sync.sh "$@"
}

# the snapshot's ids against the fake's
crm_check_ids () {
	sqlite3 -separator "	" "$1" "select key, json_extract(id, '\$') from snapshot_row order by key" >snap.ids &&
	crm_ids >dest.ids &&
	test_cmp dest.ids snap.ids
}

# crm_suite STATE: a first sync, a second with changes and deletes, a
# kill at each crash point and a run after it, an unchanged run.  Each
# leaves the fake equal to the model, the snapshot's ids the fake's.
# $CRM_KILLS: the crash points (default: a lookup sent, a write sent, a
# reply, a commit).
crm_suite () {
	test_expect_success "$CRM_PROFILE: a first sync: the fake holds the model, the snapshot its ids" '
		rm -f w.db && crm_warehouse ${CRM_ROWS:-40} &&
		: >dead.ndjson &&
		crm_sync '"$1"' &&
		crm_model >expect && crm_dest >actual && test_cmp expect actual &&
		crm_check_ids '"$1"' &&
		test_must_be_empty dead.ndjson
	'
	test_expect_success "$CRM_PROFILE: a second run with changes and deletes: the model again" '
		crm_mutate 1 &&
		crm_sync '"$1"' &&
		crm_model >expect && crm_dest >actual && test_cmp expect actual &&
		crm_check_ids '"$1"' &&
		test_must_be_empty dead.ndjson
	'
	i=1
	for point in ${CRM_KILLS:-rx-push:lookup:1 rx-push:sent:2 rx-push:replied:1 rx-diff:commit:2}; do
		i=$((i + 1))
		test_expect_success "$CRM_PROFILE: killed at $point, the model changed, a run: the fake equals the model" '
			crm_mutate '"$i"' &&
			{ crm_sync '"$1 $point"' 2>kill.err; test $? != 0; } &&
			cat dead.ndjson kill.err >all.err &&
			test_grep "killed at ${point#*:}" all.err &&
			: >dead.ndjson &&
			crm_sync '"$1"' &&
			crm_model >expect && crm_dest >actual && test_cmp expect actual &&
			crm_check_ids '"$1"' &&
			test_must_be_empty dead.ndjson
		'
	done
	test_expect_success "$CRM_PROFILE: an unchanged run sends nothing" '
		before=$(fake_count "$CRM_FAKE" requests) &&
		crm_sync '"$1"' &&
		test "$(fake_count "$CRM_FAKE" requests)" = "$before"
	'
}

# change OP KEY ROW-JSON [ID]: one change, as rx-diff writes it
change () {
	printf '{"op":"%s","key":"%s","hash":"%064d","row":%s%s}\n' "$1" "$2" 0 "$3" "${4:+,\"id\":\"$4\"}"
}

# the keys of the acks (stdout of rx-push), sorted
acked () {
	jq -r .key "$1" | sort
}

# crm_try PAGE: run the commands of the block marked <!-- rx:try --> in
# docs/destinations/PAGE.md exactly as written, one after the other, in
# ./top: a copy of the project's examples (its warehouse built) beside
# share/.  The environment points them at the fake (HUBSPOT_URL, ...).
crm_try () {
	if [ ! -d top ]; then
		mkdir top && cp -R "$RX_TOP/examples" top/examples && ln -s "$RX_TOP/share" top/share &&
		rm -rf top/examples/state top/examples/*.db &&
		sqlite3 top/examples/warehouse.db <top/examples/warehouse.sql || return 1
	fi
	awk '/<!-- rx:try -->/ { want = 1; next }
	     want && /^```/ { if (inblock) exit; inblock = 1; next }
	     inblock { print }' "$RX_TOP/docs/destinations/$1.md" >try.sh &&
	test -s try.sh &&
	(cd top && sh -e ../try.sh)
}
