#!/usr/bin/env bash
# The Kizuna demo, end to end on this machine: roster import -> campaign ->
# sent mail you can open. It uses the Postgres and Redis on 127.0.0.1 when
# they answer, and otherwise starts throwaway ones under ./.dev (installing
# the Debian packages first when they are missing and it can).
# KIZUNA_DEMO_THROWAWAY=1 uses the throwaway servers even when others answer.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dev="$root/.dev"
mkdir -p "$dev"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
install_pkgs() {
  echo "installing Debian packages: $*"
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
    || die "could not install $* (install them, or point KIZUNA_DATABASE_URL / KIZUNA_REDIS_URL at running servers)"
}

# `scripts/demo.sh stop` stops the throwaway servers (make clean also does).
if [ "${1:-}" = stop ]; then
  redis-cli -p 63799 shutdown nosave >/dev/null 2>&1 || true
  if [ -f "$dev/pg/PG_VERSION" ]; then
    bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$bindir/pg_ctl" -D "$dev/pg" -m fast stop >/dev/null 2>&1 || true
    else "$bindir/pg_ctl" -D "$dev/pg" -m fast stop >/dev/null 2>&1 || true; fi
  fi
  echo "throwaway servers stopped"
  exit 0
fi

say "Building kizuna"
command -v go >/dev/null || die "Go is not installed (https://go.dev/dl/; Go 1.26 or newer)"
go build -o bin/kizuna ./cmd/kizuna
kizuna="$root/bin/kizuna"

say "Postgres"
if [ -n "${KIZUNA_DATABASE_URL:-}" ]; then
  echo "using KIZUNA_DATABASE_URL (kizuna migrate creates the database when it does not exist)"
elif [ -z "${KIZUNA_DEMO_THROWAWAY:-}" ] && command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 \
     && psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  echo "using the server on 127.0.0.1:5432 (database kizuna_demo, fresh each time; kizuna migrate creates it)"
  psql -h 127.0.0.1 -U postgres -d postgres -qc 'DROP DATABASE IF EXISTS kizuna_demo WITH (FORCE)'
  export KIZUNA_DATABASE_URL="postgres://postgres@127.0.0.1:5432/kizuna_demo?sslmode=disable"
else
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$bindir" ]; then install_pkgs postgresql; bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); fi
  pgdata="$dev/pg"; port=54329
  runas=()
  if [ "$(id -u)" = 0 ]; then runas=(runuser -u postgres --); chown -R postgres "$dev" 2>/dev/null || true; mkdir -p "$pgdata"; chown postgres "$pgdata"; fi
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    "${runas[@]}" "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! "$bindir/pg_isready" -q -h 127.0.0.1 -p $port; then
    echo "starting a throwaway Postgres in .dev/pg on port $port"
    "${runas[@]}" "$bindir/pg_ctl" -D "$pgdata" -l "$dev/pg.log" -w \
      -o "-p $port -k $dev -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null
  fi
  "$bindir/psql" -h 127.0.0.1 -p $port -U postgres -d postgres -qc 'DROP DATABASE IF EXISTS kizuna_demo WITH (FORCE)'
  export KIZUNA_DATABASE_URL="postgres://postgres@127.0.0.1:$port/kizuna_demo?sslmode=disable"
fi

say "Redis"
if [ -n "${KIZUNA_REDIS_URL:-}" ]; then
  echo "using KIZUNA_REDIS_URL"
elif [ -z "${KIZUNA_DEMO_THROWAWAY:-}" ] && command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "using the server on 127.0.0.1:6379 (database 9, flushed)"
  redis-cli -h 127.0.0.1 -p 6379 -n 9 flushdb >/dev/null
  export KIZUNA_REDIS_URL="redis://127.0.0.1:6379/9"
else
  command -v redis-server >/dev/null || install_pkgs redis-server
  port=63799
  if ! redis-cli -p $port ping >/dev/null 2>&1; then
    echo "starting a throwaway Redis in .dev on port $port"
    redis-server --daemonize yes --bind 127.0.0.1 --port $port --save "" --appendonly no \
      --maxmemory-policy noeviction --dir "$dev" --logfile "$dev/redis.log"
    for _ in $(seq 1 50); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  export KIZUNA_REDIS_URL="redis://127.0.0.1:$port/0"
fi

say "kizuna migrate   (creates the database when it does not exist, then the schema)"
"$kizuna" migrate

say "kizuna alumni import examples/alumni.csv   (CP932, as Excel in Japan writes it)"
"$kizuna" alumni import examples/alumni.csv

say "The roster (first rows of kizuna alumni export)"
"$kizuna" alumni export | head -4
echo "..."
first=$("$kizuna" alumni export --encoding utf-8 | sed -n 2p | cut -d, -f1)
say "kizuna alumni show $first"
"$kizuna" alumni show "$first"

# Sending: the demo signs links with a throwaway secret and "sends" through
# a file:// relay, which writes each message as an .eml file you can open.
export KIZUNA_SECRET="${KIZUNA_SECRET:-demo-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
out="$root/demo-out/mail"
rm -rf "$out"; mkdir -p "$out"
export KIZUNA_SMTP_URL="file://$out"

# The web server `kizuna run` starts answers the links in the mail: on
# 127.0.0.1:8080, or on a free port when that one is taken; the links
# point at it.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -z "${KIZUNA_LISTEN:-}" ]; then
  web_port=8080
  while ! port_free "$web_port"; do web_port=$((web_port + 1)); done
  export KIZUNA_LISTEN="127.0.0.1:$web_port"
fi
export KIZUNA_BASE_URL="${KIZUNA_BASE_URL:-http://$KIZUNA_LISTEN}"

say "kizuna campaign validate examples/campaigns"
"$kizuna" campaign validate examples/campaigns

say "kizuna campaign preview examples/campaigns/alumni-network-launch.yaml --to $first --format text"
"$kizuna" campaign preview examples/campaigns/alumni-network-launch.yaml --to "$first" --format text | head -24
echo "..."

# --again: with a KIZUNA_DATABASE_URL of your own, a second demo starts a
# fresh run of a campaign the first demo already sent.
say "kizuna campaign start examples/campaigns/alumni-network-launch.yaml --yes --again"
"$kizuna" campaign start examples/campaigns/alumni-network-launch.yaml --yes --again

say "kizuna run --campaigns examples/campaigns   (scheduler + worker + web server on $KIZUNA_LISTEN; mail goes to demo-out/mail)"
"$kizuna" run --campaigns examples/campaigns >"$root/demo-out/run.log" 2>&1 &
run_pid=$!
trap 'kill -TERM $run_pid 2>/dev/null || true' EXIT
"$kizuna" campaign status alumni-network-launch --watch

# One open and one click, as a mail program would make them, then the counts.
sample=$(grep -l "^To: .*<$first>" "$out"/*.eml 2>/dev/null | head -1 || true)
[ -n "$sample" ] || sample=$(find "$out" -name '*.eml' | head -1)
# Decode each part, whatever its transfer encoding (8bit, quoted-printable
# or base64), then find the first /o/ and /c/ link.
links() {
  tr -d '\r' <"$sample" | awk '
    /^Content-Transfer-Encoding:/ { enc = tolower($2); next }
    enc != "" && !body && /^$/ { body = 1
      cmd = enc == "base64" ? "base64 -d" : enc == "quoted-printable" ? "sed -e :a -e \"/=\\$/{N;s/=\\n//;ba\" -e \"}\" -e s/=3D/=/g" : "cat"
      next }
    body && /^--/ { body = 0; enc = ""; close(cmd); next }
    body { print | cmd }' |
    grep -o "$KIZUNA_BASE_URL/$1/[A-Za-z0-9_-]*" | head -1
}
open_url=$(links o || true); click_url=$(links c || true)
if [ -n "$open_url" ] && [ -n "$click_url" ]; then
  say "The web server answers the links in the mail"
  ua='Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'   # a mail reader's
  echo "curl -A '$ua' $open_url"
  curl -s -o /dev/null -A "$ua" -w '  -> %{http_code} %{content_type}, %{size_download} bytes\n' "$open_url" || true
  echo "curl -A '$ua' $click_url"
  curl -s -o /dev/null -A "$ua" -w '  -> %{http_code} to %{redirect_url}\n' "$click_url" || true
  echo "(a click this soon after the mail was sent counts as a security scanner's, as the status shows)"
  "$kizuna" campaign status alumni-network-launch
fi
kill -TERM $run_pid; wait $run_pid || true
trap - EXIT

say "Sent mail"
count=$(find "$out" -name '*.eml' | wc -l)
echo "$count messages in demo-out/mail/ (one .eml file each; open one in any mail program)."
if [ -n "$sample" ]; then echo "The message to $first: ${sample#$root/}"; fi
echo "The run's log: demo-out/run.log"
# The demo's settings, to serve its links again later.
umask 077
{
  printf 'export KIZUNA_DATABASE_URL=%q\n' "${KIZUNA_DATABASE_URL:-}"
  printf 'export KIZUNA_REDIS_URL=%q\n' "${KIZUNA_REDIS_URL:-}"
  printf 'export KIZUNA_SECRET=%q\n' "$KIZUNA_SECRET"
  printf 'export KIZUNA_LISTEN=%q\n' "$KIZUNA_LISTEN"
  printf 'export KIZUNA_BASE_URL=%q\n' "$KIZUNA_BASE_URL"
} > "$root/demo-out/demo.env"
if [ -n "${open_url:-}" ]; then
  echo "To serve the links in the mail again: source demo-out/demo.env && bin/kizuna serve   (the demo's settings and throwaway secret)"
  echo "then, for example:"
  echo "  curl -i $open_url"
  echo "  curl -i $click_url"
fi
