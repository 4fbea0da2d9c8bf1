#!/usr/bin/env bash
# This app on Flower's local simulation, with the local SuperLink stopped at the end. `flwr run` alone starts a
# SuperLink in the background and leaves it running after the run. This script notes the SuperLink that `flwr run`
# starts for it and stops that one (by its pid) when the script ends: after the run, on an error, or on Ctrl-C. A
# SuperLink that was already running for this FLWR_HOME is used and left running, because this script did not start it.
# usage: examples/flower/run_local.sh [N=100] [more run config, e.g. "rounds=3 attack='noise'"]
#   N clients, one SuperNode each (the run config's clients=N). The results go to $OUT (default
#   ./fedwgan-results/flower-local). Flower's state goes to $FLWR_HOME (default ./.flwr). The SuperLink listens on
#   127.0.0.1:$PORT (default 39191; Flower's own default, 39091, is left to other runs).
# needs: pip install "fedwgan[flower]" (or, in a clone, pip install -e ".[flower]") and the dataset in $FEDWGAN_DATA
set -euo pipefail
N=${1:-100}; MORE=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
PORT=${PORT:-39191}
out=${OUT:-$PWD/fedwgan-results/flower-local}
export FLWR_HOME=${FLWR_HOME:-$PWD/.flwr} FLWR_TELEMETRY_ENABLED=0 FLWR_DISABLE_UPDATE_CHECK=1 \
       FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1 FLWR_LOCAL_SUPERLINK_HTTP_API_PORT=$PORT \
       FLWR_LOCAL_CONTROL_API_PORT=$((PORT + 2))
mkdir -p "$FLWR_HOME"
say() { echo "== $*"; }

# The local SuperLinks of this FLWR_HOME: `flwr run` starts them with a log file under $FLWR_HOME/local-superlink/.
pattern="flower-superlink .*$(printf '%s' "$FLWR_HOME/local-superlink/" | sed 's/[][\.*^$+?(){}|]/\\&/g')"
superlinks() { pgrep -f -- "$pattern" || true; }
before=" $(superlinks | tr '\n' ' ') "
started=(); follower=
note_started() {  # the SuperLinks running now that were not running before: this script's
  local p
  for p in $(superlinks); do
    case "$before ${started[*]:-} " in *" $p "*) ;; *) started+=("$p");; esac
  done
}
wait_gone() {  # up to 10 s for the processes $@ to exit
  local i p alive
  for i in $(seq 50); do
    alive=0; for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.2
  done
}
stop() {
  local code=$? p c g groups
  trap - EXIT INT TERM
  [ -n "$follower" ] && kill "$follower" 2>/dev/null || true
  note_started  # again: an interrupt may have come between flwr starting the SuperLink and the note below
  if [ ${#started[@]} -gt 0 ]; then
    # the SuperLink's SuperExec runs the simulation (and Ray) in a process group of its own: stopped with it
    groups=$(for p in "${started[@]}"; do for c in $(pgrep -P "$p"); do ps -o pgid= -p "$c"; done; done 2>/dev/null | sort -u | tr -d ' ')
    for p in "${started[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait_gone "${started[@]}"
    for g in $groups; do kill -TERM -- "-$g" 2>/dev/null || true; done
    sleep 1
    for p in "${started[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for g in $groups; do kill -KILL -- "-$g" 2>/dev/null || true; done
    say "stopped the local SuperLink this script started (pid ${started[*]}), and what it ran"
  fi
  exit "$code"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
[ "$before" != "  " ] && say "a local SuperLink already serves $FLWR_HOME (pid$before): it is used and left running"

say "flwr run $here (clients=$N, results in $out)"
reply=$(flwr run "$here" --format json --federation-config "num-supernodes=$N client-resources-num-cpus=1" \
        --run-config "clients=$N out='$out' $MORE") || { echo "$reply"; exit 1; }
note_started
[ ${#started[@]} -gt 0 ] && say "the local SuperLink has pid ${started[*]}: it is stopped when this script ends"
run_id=$(printf '%s' "$reply" | python3 -c 'import json, sys; r = json.load(sys.stdin); print(r["run-id"] if r.get("success") else "")') || run_id=
[ -n "$run_id" ] || { echo "$reply"; exit 1; }

flwr log "$run_id" --stream & follower=$!  # the run's log, until the run ends (in the background: a signal to this script
wait "$follower" || true; follower=       # then stops it at once, where a command in the foreground would be waited for)
while :; do  # `flwr run` and `flwr log` exit 0 even when the run failed: its status says
  status=$(flwr ls --run-id "$run_id" --format json |
           python3 -c 'import json, sys; r = json.load(sys.stdin)["runs"][0]; print(r["status"], r.get("status-details", ""))')
  case "$status" in finished*) break;; esac
  sleep 2
done
say "run $run_id: $status"
case "$status" in finished:completed*) exit 0;; *) exit 1;; esac
