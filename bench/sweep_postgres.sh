#!/usr/bin/env bash
# Two `seglab sweep` workers sharing one study on a real PostgreSQL server, as a lab would run them on two
# machines: installs Debian's postgresql package when it is missing, starts a throwaway server on localhost
# (its own data folder and port), runs both workers against it, checks that the study has exactly N finished
# trials, no trial number twice, and trials from both workers, then stops the server and removes its data.
#
#   bash bench/sweep_postgres.sh [TRIALS]        # from the repository root, with seglab installed (pip install -e .)
#
# The numbers it prints go to bench/README.md ("A sweep shared through PostgreSQL").
set -euo pipefail
cd "$(dirname "$0")/.."

trials="${1:-6}"
port=54329
work="$(mktemp -d)"
chmod 755 "$work"
cleanup() {
    if [[ -n "${pgbin:-}" && -f "$work/pgdata/postmaster.pid" ]]; then
        su postgres -c "$pgbin/pg_ctl -D $work/pgdata -m fast stop" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "installing Debian's postgresql package..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
python -c "import psycopg2" 2>/dev/null || pip install --quiet 'psycopg2-binary>=2.9'

# A server of our own: its data folder, a port no other server uses, trust on localhost only.
mkdir "$work/pgdata" && chown postgres "$work/pgdata"
su postgres -c "$pgbin/initdb -D $work/pgdata --auth=trust --username=postgres" >/dev/null
su postgres -c "$pgbin/pg_ctl -D $work/pgdata -o '-p $port -k /tmp -c listen_addresses=127.0.0.1' \
    -l $work/pgdata/server.log -w start" >/dev/null
su postgres -c "$pgbin/createdb -h 127.0.0.1 -p $port seglab"
url="postgresql://postgres@127.0.0.1:$port/seglab"
echo "server: $("$pgbin/postgres" --version), $url"

base=(--data synthetic --synthetic-count 60 --image-size 64 --width 8 --epochs 4 --batch-size 8 --workers 0
      --precision fp32 --search lr=log:1e-4..1e-1 --search width=8,16 --trials "$trials" --prune median
      --storage "$url" --runs-dir "$work/runs")
started=$(date +%s)
OMP_NUM_THREADS=1 seglab sweep shared "${base[@]}" >"$work/first.log" 2>&1 &
first=$!
sleep 3
OMP_NUM_THREADS=1 seglab sweep shared "${base[@]}" >"$work/second.log" 2>&1 &
second=$!
status=0
wait "$first" || status=$?
wait "$second" || status=$?
if (( status != 0 )); then
    echo "a worker failed (exit $status):"; tail -n 5 "$work/first.log" "$work/second.log"; exit 1
fi
echo "both workers done in $(( $(date +%s) - started )) s"

python - "$url" "$trials" <<'EOF'
import sys
import optuna

url, trials = sys.argv[1], int(sys.argv[2])
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name="shared", storage=url)
numbers = [t.number for t in study.get_trials()]
done = [t for t in study.get_trials() if t.state.name in ("COMPLETE", "PRUNED")]
by_worker = {}
for trial in done:
    by_worker[trial.user_attrs.get("pid")] = by_worker.get(trial.user_attrs.get("pid"), 0) + 1
print(f"trials: {len(numbers)} in the study, {len(done)} finished or pruned (asked {trials}); "
      f"numbers unique: {len(numbers) == len(set(numbers))}; per worker: {sorted(by_worker.values())}")
best = study.best_trial
print(f"best: trial {best.number}, val Dice {best.value:.4f}, {best.params}")
ok = len(done) == trials and len(numbers) == len(set(numbers)) and len(by_worker) == 2
print("ok" if ok else "NOT OK")
sys.exit(0 if ok else 1)
EOF
