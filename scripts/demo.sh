#!/usr/bin/env bash
# make demo: Gatehouse with a demo admin, demo scopes and a registered demo
# client, next to the example client app (examples/democlient).
#
#   Gatehouse     http://localhost:$DEMO_GATEHOUSE_PORT  (default 8080)
#   demo client   http://localhost:$DEMO_PORT            (default 8000)
#
# The first run prepares $DEMO_DIR (default data/demo): a SQLite database
# and client.json with the demo client's credentials (mode 0600); later
# runs reuse them. Delete the folder to start over. Ctrl-C stops both.
#
# Environment: DEMO_DIR, DEMO_PORT, DEMO_GATEHOUSE_PORT, GATEHOUSE_BIN
# (default bin/gatehouse), DEMO_CLIENT_BIN (default: built into
# bin/democlient), DEMO_SETUP_ONLY=1 (prepare the folder, then exit).
#
# The demo admin's password is public: this is for local demos only.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=${DEMO_DIR:-data/demo}
DEMO_PORT=${DEMO_PORT:-8000}
DEMO_GATEHOUSE_PORT=${DEMO_GATEHOUSE_PORT:-8080}
GATEHOUSE_BIN=${GATEHOUSE_BIN:-bin/gatehouse}
DEMO_USER=demo
DEMO_PASSWORD=demo-password

mkdir -p "$DEMO_DIR"
DEMO_DIR=$(cd "$DEMO_DIR" && pwd)
DB=$DEMO_DIR/gatehouse.db
DB_URL=sqlite://$DB # an absolute path: sqlite:///...
CLIENT_FILE=$DEMO_DIR/client.json
ISSUER=http://localhost:$DEMO_GATEHOUSE_PORT
DEMO_URL=http://localhost:$DEMO_PORT
REDIRECT_URI=$DEMO_URL/callback

# gh runs a gatehouse command on the demo database (flags override any
# GATEHOUSE_* variables of the caller's environment).
gh() { "$GATEHOUSE_BIN" "$@" --database-url "$DB_URL" --issuer "$ISSUER"; }

setup() {
	# client.json is written last: without it (or for another redirect
	# URI) the folder is prepared afresh.
	if [[ -f $CLIENT_FILE && "$(cat "$DEMO_DIR/redirect_uri" 2>/dev/null)" == "$REDIRECT_URI" ]]; then
		echo "Reusing the demo data in $DEMO_DIR (delete it to start over)."
		return
	fi
	echo "Preparing the demo data in $DEMO_DIR ..."
	rm -f "$DB" "$DB-wal" "$DB-shm" "$CLIENT_FILE" "$DEMO_DIR/redirect_uri"
	printf '%s\n' "$DEMO_PASSWORD" | gh users create --username "$DEMO_USER" --password-stdin --role admin \
		--name "Dana Demo" --email demo@example.com --email-verified
	gh scopes create --id calendar.read --name "Read your calendar" --icon "fa-solid fa-calendar-days" \
		--description "{client_name} will see the events in {user}'s calendar: titles, times and places." \
		--method GET --path "/api/calendar*"
	gh scopes create --id contacts.read --name "Read your contacts" --icon "fa-solid fa-address-book" \
		--description "{client_name} will see the names, email addresses and phone numbers in {user}'s address book." \
		--method GET --path "/api/contacts*"
	local json
	json=$(gh clients create --json --name "Gatehouse demo client" --owner "$DEMO_USER" \
		--description "The example app in examples/democlient: signs in, shows the tokens, refreshes and revokes them." \
		--homepage "$DEMO_URL" --redirect-uri "$REDIRECT_URI" \
		--grant-type authorization_code --grant-type refresh_token \
		--scope openid --scope profile --scope email --scope user.read --scope calendar.read --scope contacts.read)
	(umask 077 && printf '%s\n' "$json" >"$CLIENT_FILE.tmp")
	mv "$CLIENT_FILE.tmp" "$CLIENT_FILE"
	printf '%s\n' "$REDIRECT_URI" >"$DEMO_DIR/redirect_uri"
}

in_use() { (: >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

setup
if [[ ${DEMO_SETUP_ONLY:-} == 1 ]]; then
	exit 0
fi

for port in "$DEMO_GATEHOUSE_PORT" "$DEMO_PORT"; do
	if in_use "$port"; then
		echo "error: port $port is in use (set DEMO_GATEHOUSE_PORT / DEMO_PORT to use others)" >&2
		exit 1
	fi
done
if [[ -z ${DEMO_CLIENT_BIN:-} ]]; then
	DEMO_CLIENT_BIN=bin/democlient
	go build -o "$DEMO_CLIENT_BIN" ./examples/democlient
fi

pids=()
cleanup() {
	trap - EXIT INT TERM
	for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Started directly (not through gh) so that $! is the server itself.
GATEHOUSE_LOG_LEVEL=${GATEHOUSE_LOG_LEVEL:-warn} "$GATEHOUSE_BIN" serve --addr "127.0.0.1:$DEMO_GATEHOUSE_PORT" \
	--database-url "$DB_URL" --issuer "$ISSUER" &
pids+=($!)
for _ in $(seq 200); do
	curl -fsS -o /dev/null "http://127.0.0.1:$DEMO_GATEHOUSE_PORT/readyz" 2>/dev/null && break
	kill -0 "${pids[0]}" 2>/dev/null || { echo "error: gatehouse exited at start" >&2; exit 1; }
	sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$DEMO_GATEHOUSE_PORT/readyz" || { echo "error: gatehouse is not ready" >&2; exit 1; }

DEMO_ADDR=127.0.0.1:$DEMO_PORT DEMO_URL=$DEMO_URL DEMO_ISSUER=$ISSUER DEMO_CLIENT_FILE=$CLIENT_FILE "$DEMO_CLIENT_BIN" &
pids+=($!)

cat <<EOF

  The Gatehouse demo is running (Ctrl-C stops it):

    Demo client   $DEMO_URL        <- start here
    Gatehouse     $ISSUER        (dashboard: $ISSUER/dashboard)

    Sign in as    $DEMO_USER / $DEMO_PASSWORD   (an admin; a public password, for local demos only)
    Demo data     $DEMO_DIR  (delete it to start over)

EOF
# Until Ctrl-C, or until either program exits (then the trap stops the
# other). A loop rather than `wait -n`, for older bash (macOS).
while kill -0 "${pids[0]}" 2>/dev/null && kill -0 "${pids[1]}" 2>/dev/null; do
	sleep 1
done
echo "error: gatehouse or the demo client stopped" >&2
exit 1
