#!/usr/bin/env bash
# Mini-goals from end to end, with the document's own examples:
#   bash examples/minigoals.sh
#
# Roster sync, a performance path, bulk scheduling from a CSV, KPI data from a
# CSV, the nightly evaluation run for a few dates, and a pipeline reading the
# result as JSON. Uses a throw-away database in a temporary folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
export COACH_DB="$workdir/coach.db" COACH_TZ=America/Chicago
unset COACH_USER

step() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "A new database and the roster (until there is an admin, no --as is needed)"
run coach init
run coach user import "$here/roster.csv"
export COACH_USER=dana

step "A performance path for the Inbound agents (a mini-goal needs one)"
run coach path add "Inbound fundamentals" --agent alex --agent maria --agent jordan

step "Bulk scheduling (as the admin, for both teams): path + KPI + target + target date = a mini-goal"
run coach session import "$here/sessions.csv"
run coach session list --tab scheduled

step "KPI data, as an export script would feed it (a file, or - for stdin)"
run coach kpi import "$here/kpi.csv"
printf '$ coach kpi import - < kpi.csv   # again: every row unchanged\n'
coach kpi import - -o json < "$here/kpi.csv"

step "The nightly job. On Dec 25 the Dec 15-25 goal is still In Progress..."
run coach minigoal evaluate --as-of 2025-12-25
step "...and the next day every goal is final. A second run changes nothing."
run coach minigoal evaluate --as-of 2025-12-26
run coach minigoal evaluate --as-of 2025-12-26
run coach minigoal list

step "Scripts read any list as JSON: who missed a goal?"
printf '$ coach minigoal list -o json | python3 -c ...\n'
coach minigoal list --state missed -o json | python3 -c '
import json, sys
for goal in json.load(sys.stdin):
    print("%s: %s (%s) scored %s against a target of %s" % (
        goal["assignee"], goal["name"], goal["metric"], goal["score"], goal["target"]))
'

step "The agent is told"
run coach --as alex inbox
