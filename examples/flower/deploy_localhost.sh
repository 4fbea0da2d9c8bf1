#!/usr/bin/env bash
# A deployment on this machine: one SuperLink and N SuperNodes (separate processes talking over localhost, as on
# separate machines), the app of this folder run on them with `flwr run`, its status checked, everything stopped.
# usage: examples/flower/deploy_localhost.sh [N=3] [more run config, e.g. "attack='noise' rounds=3"]
# needs: pip install -e ".[flower]" and the dataset in $FEDWGAN_DATA (or downloadable)
set -euo pipefail
N=${1:-3}; MORE=${2:-}
PORT=${PORT:-9091}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
export FLWR_HOME=$work/flwr FLWR_TELEMETRY_ENABLED=0 FLWR_DISABLE_UPDATE_CHECK=1 FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1
mkdir -p "$FLWR_HOME"
pids=()
cleanup() { for p in "${pids[@]}"; do pkill -TERM -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }  # each with its SuperExec child
trap cleanup EXIT
t0=$(date +%s)
say() { echo "== [$(( $(date +%s) - t0 )) s] $*"; }

say "SuperLink on 127.0.0.1:$PORT, $N SuperNodes (logs in $work)"
flower-superlink --insecure --host 127.0.0.1 --port "$PORT" --disable-runtime-dependency-installation \
  --database "$work/state.db" > "$work/superlink.log" 2>&1 & pids+=($!)
for i in $(seq 0 $((N - 1))); do
  flower-supernode --insecure --superlink "127.0.0.1:$PORT" --port $((PORT + 10 + i)) \
    --node-config "partition-id=$i num-partitions=$N" > "$work/supernode-$i.log" 2>&1 & pids+=($!)
done
cat > "$FLWR_HOME/config.toml" <<EOF
[superlink]
default = "deploy"

[superlink.deploy]
address = "127.0.0.1:$PORT"
insecure = true
EOF
sleep 5

out=$work/results
say "flwr run $here deploy (clients=$N, 2 rounds, sign flippers, the WGAN-GP filter)"
run_id=$(flwr run "$here" deploy --format json \
  --run-config "clients=$N clients-per-round=$N rounds=2 malicious=0.34 batch-size=32 out='$out' $MORE" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["run-id"])')
while :; do
  status=$(flwr ls deploy --run-id "$run_id" --format json | python3 -c 'import json, sys; r = json.load(sys.stdin)["runs"][0]; print(r["status"], r["status-details"])')
  case "$status" in finished*) break;; esac
  sleep 3
done
say "run $run_id: $status"
[ -f "$out/rounds.jsonl" ] && python3 - "$out" <<'EOF'
import json, sys
for line in open(f'{sys.argv[1]}/rounds.jsonl'):
    r = json.loads(line)
    print(f"round {r['round']}: clients {r['clients']}, attackers {r['attackers']}, kept {r['kept']}, accuracy {r['accuracy']:.4f}, "
          f"{sum(r['seconds'].values()):.1f} s (train {r['seconds']['train']:.1f} s)")
EOF
case "$status" in finished:completed*) exit 0;; *) tail -20 "$work/superlink.log"; exit 1;; esac
