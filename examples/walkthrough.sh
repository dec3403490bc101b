#!/usr/bin/env bash
# A first tour of coach, top to bottom:   bash examples/walkthrough.sh
#
# It works on a throw-away database in a temporary folder (removed at the end),
# so it is safe to run anywhere. Each command is printed before it runs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
export COACH_DB="$workdir/coach.db"
export COACH_TZ="${COACH_TZ:-UTC}"
unset COACH_USER

step() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "Create the database (a private file: only you can read it)"
run coach init

step "Bootstrap: the first user is an admin, added without --as"
run coach user add dana --name "Dana Whitfield" --role admin

step "From now on commands need an acting user: --as HANDLE, or COACH_USER"
export COACH_USER=dana
echo "COACH_USER=$COACH_USER"

step "Teams, a coach who supervises one, and its agents"
run coach team add "Inbound East"
run coach user add calvin --name "Calvin Brooks" --role coach --team "Inbound East"
run coach user add alex --name "Alex Moreno" --team "Inbound East"
run coach user add maria --name "Maria Lopez" --team "Inbound East"

step "A coaching form, from a TOML file"
run coach form add "$here/forms/call-quality.toml" -o table

step "Calvin opens a performance plan for Alex: the plan and its first session, together"
export COACH_USER=calvin
plan=$(coach plan add --agent alex --form "Call quality" \
  --purpose "Bring average hold time under 5 minutes while keeping empathy at 4 or more" -q)
echo "plan $plan opened"

step "plan edit returns the plan's open draft (here, its first session)"
first=$(coach plan edit "$plan" -q)
echo "session $first is the current session of plan $plan"

step "Save Only: some answers now, the rest later (--set keeps the other answers)"
run coach session save "$first" --set channel=phone --set greeting=4 -o tsv

step "Save & Coached: required answers are checked, the session becomes final, Alex is notified"
run coach session coach "$first" --set empathy=3 --set compliance=yes --set resolution=resolved \
  --set hold_etiquette=no --set opportunities="Long silent holds" \
  --set agreed_actions="Ask before every hold and check back within a minute" -o tsv

step "Next week: plan edit starts a new blank session in the plan; autofill copies last week's answers"
second=$(coach plan edit "$plan" -q)
run coach session autofill "$second" -o tsv
run coach session coach "$second" --set empathy=4 --set hold_etiquette=yes -o tsv

step "The plan: purpose, form, agent, state, current session and the recent ones"
run coach plan show "$plan" -o table

step "Coach Again: a new standalone session with the same form and agent, outside the plan"
again=$(coach session coach-again "$first" -q)
echo "session $again: a standalone draft (coach session show $again to open it)"

step "Closing needs a specific reason: a vague one is refused (and changes nothing)"
if coach plan close "$plan" --reason "done"; then
  echo "unexpected: a vague reason was accepted" >&2
  exit 1
fi

run coach plan close "$plan" \
  --reason "Average hold time 4m10s over six weeks of audited calls, empathy 4+; purpose met" -o table

step "Every session, with its Plan column (the coach-again draft has none)"
run coach session list -o table

step "Alex reads the inbox"
run coach --as alex inbox -o table

step "Scripts read any list as JSON, CSV or TSV"
run coach plan list --state all -o csv

echo
echo "Done. The temporary database is removed on exit; set COACH_DB to keep one of your own."
