#!/bin/sh
# What the destination catalogue needed from the profile format.
. "$(dirname "$0")/lib.sh"

test_expect_success 'rx-diff --profile: a profile without max_delete_ratio has the default' '
	echo "{\"id\":1}" | rx-diff --state d.db --key id --profile webhook --preview --assume-complete >changes &&
	test_lines 1 changes
'

test_done
