#!/usr/bin/env bash
# make test-devcontainer: docker-compose.yml and the devcontainer, run for real with a private Docker engine.
# What it does and needs: README.md beside this file. Exits non-zero on the first failed step.
set -euo pipefail
# One compound command, read whole before it runs: a file bash reads as it goes would misbehave if edited meanwhile.
{

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# DEVCONTAINER_COMPOSE_FILE: another compose file in the checkout's root folder, to show that a broken one fails.
COMPOSE_NAME=$(basename "${DEVCONTAINER_COMPOSE_FILE:-docker-compose.yml}")
CACHE=${CLICKKIT_DEVCONTAINER_CACHE:-$HOME/.cache/clickkit-devcontainer}
KIT_PYTHON=${KIT_PYTHON:-$REPO/.venv/bin/python}
COMPOSE_VERSION=v2.40.3
DEVCONTAINER_CLI=@devcontainers/cli@0.89.0
NOTEBOOK_UNDER_NBVAL=solutions/01-ingest-api.ipynb
# Inside, make test runs what differs from the host (CI has just run the whole suite there): every notebook against
# the compose file's broker, the course's tools, the broker tools and the doctor as the non-root `student`, the
# endpoint, and the grader's rootless sandbox. Logic that is the same everywhere is not run twice.
INSIDE_TESTS="notebooks solutions tests/course tests/broker tests/ingest tests/test_doctor.py \
tests/test_config.py tests/test_environment_files.py tests/grading/test_sandbox.py tests/grading/test_cgroups.py \
tests/grading/test_users.py tests/grading/test_turns.py tests/grading/test_watchdog.py \
tests/grading/test_grading.py::test_a_broker_fault_is_a_grader_error_and_costs_no_points \
tests/grading/test_grading.py::test_a_stopped_or_killed_grader_leaves_no_sandbox_private_broker_or_folder_behind"
STARTED=$SECONDS

say() { printf '\n[test-devcontainer %4ss] %s\n' "$((SECONDS - STARTED))" "$*"; }
fail() { printf '\n[test-devcontainer] FAILED: %s\n' "$*" >&2; exit 1; }

# --- what this machine must have -------------------------------------------------------------------------------
missing=()
[ "$(uname -s)" = Linux ] || missing+=("Linux (this is $(uname -s))")
[ "$(id -u)" = 0 ] || missing+=("root (it starts a Docker engine of its own in a network namespace)")
[ -x "$KIT_PYTHON" ] || missing+=("the kit's environment at $KIT_PYTHON (make setup)")
command -v go >/dev/null || missing+=("Go (it builds the compose plugin from the Go module proxy)")
command -v npx >/dev/null || missing+=("Node.js and npm (npx runs $DEVCONTAINER_CLI)")
command -v apt-get >/dev/null || missing+=("Debian's apt-get (for docker.io and mmdebstrap)")
if [ ${#missing[@]} -gt 0 ]; then
  printf '[test-devcontainer] cannot run here: it needs %s.\n' "${missing[@]}" >&2
  echo "[test-devcontainer] On your own machine, check the devcontainer with Docker itself:" \
       "docker compose up --build, then docker compose exec workspace make test (docs/setup.md)." >&2
  exit 1
fi
# shellcheck source=standins.sh
source "$HERE/standins.sh"

packages=()
command -v dockerd >/dev/null || packages+=(docker.io)
command -v mmdebstrap >/dev/null || packages+=(mmdebstrap)
command -v ip >/dev/null || packages+=(iproute2)
command -v iptables >/dev/null || packages+=(iptables)
if [ ${#packages[@]} -gt 0 ]; then
  say "installing ${packages[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
host_python_prefix >/dev/null || fail "no CPython 3.11 installed under a prefix of its own (pyenv's, or one built" \
  "from source) to put in the python stand-in; Debian's /usr/bin/python3.11 cannot be moved into another system"

mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock -n 9 || fail "another make test-devcontainer uses $CACHE: wait for it to finish"

# --- everything started from here on is stopped by cleanup, whatever happens -----------------------------------
RUN=$(mktemp -d /tmp/clickkit-dc.XXXXXX)
NS=clickkit-dc-$$
VETH=ckdc$$
SUBNET=
FORWARD_BEFORE=$(cat /proc/sys/net/ipv4/ip_forward)
export DOCKER_HOST=unix://$RUN/docker.sock DOCKER_CONFIG=$RUN/docker-config
export PATH=$RUN/bin:$PATH

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  say "cleaning up"
  if [ -S "$RUN/docker.sock" ]; then
    # Every container and volume of this private engine is this run's; images and build cache stay for the next.
    docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker volume prune -f >/dev/null 2>&1 || true
    docker volume rm clickkit-kafka-data clickkit-workspace-venv >/dev/null 2>&1 || true
  fi
  if [ -f "$RUN/dockerd.pid" ]; then
    local pid
    pid=$(cat "$RUN/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  grep -oE " ($RUN|$CACHE/engine)/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  if [ -n "$SUBNET" ]; then
    iptables -t nat -D POSTROUTING -s "$SUBNET.0/30" -j MASQUERADE 2>/dev/null || true
    iptables -D FORWARD -i "$VETH" -j ACCEPT 2>/dev/null || true
    iptables -D FORWARD -o "$VETH" -j ACCEPT 2>/dev/null || true
  fi
  ip link del "$VETH" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  echo "$FORWARD_BEFORE" > /proc/sys/net/ipv4/ip_forward
  rm -rf "$RUN"
  if [ "$status" = 0 ]; then say "passed in $((SECONDS - STARTED)) s"; else say "failed (exit $status) after $((SECONDS - STARTED)) s"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the compose plugin, built once from the Go module proxy ---------------------------------------------------
COMPOSE_BIN=$CACHE/compose/docker-compose-$COMPOSE_VERSION
if [ ! -x "$COMPOSE_BIN" ]; then
  say "building the compose plugin $COMPOSE_VERSION from the Go module proxy (once, a few minutes)"
  (
    export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build GOFLAGS=-trimpath GOTOOLCHAIN=local
    source_dir=$(go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" \
                 | "$KIT_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
    # Its go.mod has exclude directives, so `go install module@version` refuses it: build it as the main module.
    mkdir -p "$CACHE/compose" && rm -rf "$CACHE/compose/src" && cp -r "$source_dir" "$CACHE/compose/src" && chmod -R u+w "$CACHE/compose/src"
    cd "$CACHE/compose/src"
    go build -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
      -o "$COMPOSE_BIN.part" ./cmd
    mv "$COMPOSE_BIN.part" "$COMPOSE_BIN"
  )
fi
mkdir -p "$DOCKER_CONFIG/cli-plugins" "$RUN/bin"
ln -s "$COMPOSE_BIN" "$DOCKER_CONFIG/cli-plugins/docker-compose"
ln -s "$COMPOSE_BIN" "$RUN/bin/docker-compose"
# Debian's client, of the engine's own version, whatever else is on PATH.
ln -s /usr/bin/docker "$RUN/bin/docker"

# --- a network namespace of its own, with a way out to the registries ------------------------------------------
say "network namespace $NS"
for octet in $(seq $(($$ % 200 + 20)) 250) $(seq 20 250); do
  ip route | grep -q "^10\.213\.$octet\." || { SUBNET=10.213.$octet; break; }
done
[ -n "$SUBNET" ] || fail "no free 10.213.N.0/30 subnet for the namespace's link"
ip netns add "$NS"
ip link add "$VETH" type veth peer name "${VETH}n"
ip link set "${VETH}n" netns "$NS"
ip addr add "$SUBNET.1/30" dev "$VETH"
ip link set "$VETH" up
ip -n "$NS" addr add "$SUBNET.2/30" dev "${VETH}n"
ip -n "$NS" link set "${VETH}n" up
ip -n "$NS" link set lo up
ip -n "$NS" route add default via "$SUBNET.1"
echo 1 > /proc/sys/net/ipv4/ip_forward
iptables -t nat -A POSTROUTING -s "$SUBNET.0/30" -j MASQUERADE
iptables -I FORWARD -i "$VETH" -j ACCEPT
iptables -I FORWARD -o "$VETH" -j ACCEPT
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }

# --- the engine: Debian's dockerd in that namespace (nsenter: `ip netns exec` remounts /sys and dockerd fails) ---
say "starting dockerd ($(dockerd --version)), data in $CACHE/engine"
in_ns dockerd --data-root "$CACHE/engine" --exec-root "$RUN/exec" --pidfile "$RUN/dockerd.pid" \
  --host "$DOCKER_HOST" --log-level warn > "$RUN/dockerd.log" 2>&1 &
for _ in $(seq 120); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
docker version >/dev/null 2>&1 || { tail -20 "$RUN/dockerd.log"; fail "dockerd did not answer within 60 s"; }
docker ps -aq | xargs -r docker rm -f >/dev/null  # anything an interrupted run left
docker volume rm clickkit-kafka-data clickkit-workspace-venv >/dev/null 2>&1 || true
docker compose version

# --- the stand-in images --------------------------------------------------------------------------------------
KAFKA_IMAGE=$(sed -n 's/^ *image: *\(apache\/kafka:[^ ]*\).*/\1/p' "$REPO/$COMPOSE_NAME")
PYTHON_IMAGE=$(sed -n 's/^FROM *\(python:[^ ]*\).*/\1/p' "$REPO/.devcontainer/Dockerfile")
[ -n "$KAFKA_IMAGE" ] && [ -n "$PYTHON_IMAGE" ] || fail "no apache/kafka image in $COMPOSE_NAME or no python image in the Dockerfile"
KAFKA_LIBS=$(cd "$REPO" && "$KIT_PYTHON" -c 'import sys; from pathlib import Path; from clickkit.broker.local import kafka_libs, KAFKA_VERSION
assert sys.argv[2].endswith(":" + KAFKA_VERSION), f"{sys.argv[2]} is not Kafka {KAFKA_VERSION}, the version the kit runs"
print(kafka_libs(Path(sys.argv[1])))' "$CACHE/kafka" "$KAFKA_IMAGE" | tail -1)
provide_image "$PYTHON_IMAGE" "$(python_standin_hash "$(host_python_prefix)")" python_standin
provide_image "$KAFKA_IMAGE" "$(kafka_standin_hash)" kafka_standin

# --- a checkout that uid 1000 owns, as a Linux student's own clone (root's would be read-only for `student`) ----
say "copying the checkout's files (tracked and new, not ignored) to $RUN/clickkit, owned by uid 1000"
mkdir "$RUN/clickkit"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
  | tar --null -T - --ignore-failed-read -c 2>/dev/null) | tar -C "$RUN/clickkit" -x
chown -R 1000:1000 "$RUN/clickkit"
WORK=$RUN/clickkit
compose() { docker compose --project-directory "$WORK" -f "$WORK/$COMPOSE_NAME" "$@"; }
# What a failed step shows: each container's state, its last healthcheck's output, the end of each log.
diagnose() {
  local id
  for id in $(compose ps --all --quiet 2>/dev/null); do
    docker inspect "$id" | "$KIT_PYTHON" -c 'import json, sys
container = json.load(sys.stdin)[0]
state, health = container["State"], container["State"].get("Health")
print("%s: %s, exit code %s%s" % (container["Name"][1:], state["Status"], state["ExitCode"],
                                  ", " + health["Status"] if health else ""))
if health and health["Log"]:
    last = health["Log"][-1]
    print("  its last healthcheck exited %s: %s" % (last["ExitCode"], last["Output"].strip()[:600]))'
  done
  compose logs --no-color --tail 15 || true
}

# --- docker compose: the student's path without VS Code --------------------------------------------------------
say "STUDENT_UID=0 docker compose build workspace (a root user following the compose file's hint)"
STUDENT_UID=0 compose build --quiet workspace
[ "$(docker run --rm --entrypoint id clickkit-workspace -u)" = 0 ] || fail "STUDENT_UID=0 did not give a uid-0 student"
say "docker compose build workspace"
compose build workspace
say "docker compose up -d"
compose up -d || { diagnose; fail "docker compose up -d"; }

kafka_id=$(compose ps -q kafka)
health=$(docker inspect --format '{{.State.Health.Status}}' "$kafka_id")
[ "$health" = healthy ] || { diagnose; fail "kafka is $health, not healthy"; }
say "kafka: healthy"

say "waiting for JupyterLab on the published port 127.0.0.1:${JUPYTER_PORT:-8888} (make lab installs the kit first)"
jupyter_url="http://127.0.0.1:${JUPYTER_PORT:-8888}/api"
answered=
for _ in $(seq 120); do
  if version=$(in_ns "$KIT_PYTHON" -c 'import json, sys, urllib.request
print(json.load(urllib.request.urlopen(sys.argv[1], timeout=5))["version"])' "$jupyter_url" 2>/dev/null); then
    answered=$version; break
  fi
  [ "$(docker inspect --format '{{.State.Running}}' "$(compose ps -aq workspace)")" = true ] || break
  sleep 5
done
[ -n "$answered" ] || { diagnose; fail "JupyterLab does not answer at $jupyter_url"; }
say "JupyterLab: answers at $jupyter_url (Jupyter Server $answered)"

token=$(cat /proc/sys/kernel/random/uuid)
say "localhost:9092 from the namespace: a Kafka client's round trip, then a token the workspace must read"
(cd "$REPO" && KAFKA_BOOTSTRAP_SERVERS=localhost:9092 in_ns "$KIT_PYTHON" "$HERE/roundtrip.py" produce "$token") \
  || fail "Kafka clients on the host side (localhost:9092)"
compose exec -T workspace /home/student/venv/bin/python tests/devcontainer/roundtrip.py consume "$token" \
  || { diagnose; fail "the workspace does not reach the broker behind localhost:9092 at its KAFKA_BOOTSTRAP_SERVERS"; }
compose down --volumes

# --- the devcontainer, as VS Code brings it up ------------------------------------------------------------------
config=("--workspace-folder" "$WORK")
if [ "$COMPOSE_NAME" != docker-compose.yml ]; then
  "$KIT_PYTHON" -c 'import json, sys; config = json.load(open(sys.argv[1])); config["dockerComposeFile"] = [sys.argv[2]]
json.dump(config, open(sys.argv[3], "w"))' "$WORK/.devcontainer/devcontainer.json" "../$COMPOSE_NAME" \
    "$WORK/.devcontainer/devcontainer.alternative.json"
  config+=(--config "$WORK/.devcontainer/devcontainer.alternative.json")
fi
devcontainer() { npx --yes "$DEVCONTAINER_CLI" "$@"; }
say "devcontainer up ($DEVCONTAINER_CLI)"
devcontainer up "${config[@]}" --log-level info > "$RUN/devcontainer-up.log" 2>&1 \
  || { tail -40 "$RUN/devcontainer-up.log"; fail "devcontainer up"; }
tail -1 "$RUN/devcontainer-up.log"
inside() { devcontainer exec "${config[@]}" bash -c "$1"; }

say "inside, as $(inside 'id -un') (uid $(inside 'id -u')): make doctor"
inside 'make doctor' || fail "make doctor in the devcontainer"
say "inside: $NOTEBOOK_UNDER_NBVAL under nbval"
inside "\$CLICKKIT_VENV/bin/python -m pytest -q $NOTEBOOK_UNDER_NBVAL" || fail "nbval on $NOTEBOOK_UNDER_NBVAL in the devcontainer"
say "inside: make test on what differs there ($INSIDE_TESTS)"
status=0
inside "make test PYTEST_ARGS='$INSIDE_TESTS'" 2>&1 | tee "$RUN/make-test.log" || status=$?
summary=$(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$RUN/make-test.log" | tail -1 | tr -d '=' | sed 's/^ *//; s/ *$//')
say "inside the devcontainer, make test: ${summary:-no pytest summary line}"
[ "$status" = 0 ] || fail "make test in the devcontainer (exit $status)"
exit 0
}
