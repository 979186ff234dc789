#!/usr/bin/env bash
# Deployment rehearsal: build the images and run the whole scaled-out stack in containers on this
# machine (PostgreSQL, Redis, one web server, two workers, host networking), then check it end to end
# through public interfaces only: the HTTP API, the live WebSocket, a webhook receiver, and the CLI
# inside the containers. docs/deploy.md, "The rehearsal", says what each step proves.
#
#   deploy/rehearse.sh            (as root where no Docker engine is running: it starts its own)
#
# Each step prints its time; the first failure stops it with a non-zero exit status (after printing the
# containers' last log lines). Everything it started (containers, volumes, the daemon, temporary files)
# is removed on every way out. It skips (status 0, saying why) only where no Docker engine can start.
#
# Settings (environment):
#   VIGIL_REHEARSE_CACHE   where the base image and the engine's layers are kept between runs
#                          (default ~/.cache/vigil-rehearse; outside the clone). Delete it for a cold run.
#   VIGIL_REHEARSE_MIRROR  the Debian mirror debootstrap and apt use (default http://deb.debian.org/debian)
#   VIGIL_REHEARSE_OWN_ENGINE=1  start a daemon even when `docker info` already answers
#   VIGIL_PG_PORT, VIGIL_REDIS_PORT, VIGIL_WEB_PORT, VIGIL_WORKER_HEALTH_PORT_1, _2
#                          the stack's ports on 127.0.0.1 (15432, 16379, 18000, 18081, 18082)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${VIGIL_REHEARSE_CACHE:-${HOME:-/root}/.cache/vigil-rehearse}
MIRROR=${VIGIL_REHEARSE_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
export VIGIL_PG_PORT=${VIGIL_PG_PORT:-15432} VIGIL_REDIS_PORT=${VIGIL_REDIS_PORT:-16379}
export VIGIL_WEB_PORT=${VIGIL_WEB_PORT:-18000}
export VIGIL_WORKER_HEALTH_PORT_1=${VIGIL_WORKER_HEALTH_PORT_1:-18081}
export VIGIL_WORKER_HEALTH_PORT_2=${VIGIL_WORKER_HEALTH_PORT_2:-18082}
HOOK_PORT=${VIGIL_REHEARSE_HOOK_PORT:-18090}
CAMERA=rehearsal-1

START=$(date +%s.%N)
WORK=""
DAEMON_PID=""
STACK_UP=""
STEP_NO=0
STEP_NAME=""

say() { printf 'rehearse: %s\n' "$*"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# step NAME COMMAND...: runs COMMAND in this shell (so it may set variables for later steps) and prints
# the step's time and the last line of its output (the facts); a failure exits through cleanup, which
# shows the step's output
step() {
    STEP_NO=$((STEP_NO + 1))
    STEP_NAME=$1
    STEP_BEGAN=$(date +%s.%N)
    shift
    "$@" >"$WORK/step.out" 2>&1
    printf 'rehearse: %2d %-26s %7s s  (at %6s s)  %s\n' "$STEP_NO" "$STEP_NAME" "$(elapsed "$STEP_BEGAN")" \
        "$(elapsed "$START")" "$(grep -v '^[[:space:]]*$' "$WORK/step.out" | tail -n 1)"
    STEP_NAME=""
}

skip() {
    echo "SKIPPED: $*"
    exit 0
}

cleanup() {
    local status=$?
    set +e
    if [ -n "$STEP_NAME" ]; then
        if [ $status -eq 0 ]; then  # a skip
            tail -n 6 "$WORK/step.out" | sed 's/^/rehearse: /'
        else
            tail -n 40 "$WORK/step.out" | sed 's/^/    /'
            say "FAILED at step $STEP_NO, $STEP_NAME (after $(elapsed "$STEP_BEGAN") s; $(elapsed "$START") s in all)"
        fi
    fi
    if [ -n "$STACK_UP" ]; then
        if [ $status -ne 0 ]; then
            say "last log lines of the stack:"
            compose logs --no-color --tail 25 2>&1 | sed 's/^/    /'
        fi
        compose down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1
        docker image prune --force >/dev/null 2>&1  # the previous builds' layers no image uses
    fi
    if [ -n "$DAEMON_PID" ]; then
        kill "$DAEMON_PID" 2>/dev/null
        for _ in $(seq 1 120); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$DAEMON_PID" 2>/dev/null && kill -9 "$DAEMON_PID" 2>/dev/null
    fi
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r umount -l
        rm -rf --one-file-system "$WORK"
    fi
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the engine ----------------------------------------------------------------------------------------

start_engine() {
    if [ "${VIGIL_REHEARSE_OWN_ENGINE:-0}" != 1 ] && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        echo "the engine already running ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
        return
    fi
    command -v dockerd >/dev/null || skip "no Docker engine answers and dockerd is not installed (Debian: apt-get install docker.io)"
    command -v docker >/dev/null || skip "no docker client"
    [ "$(id -u)" -eq 0 ] || skip "no Docker engine answers and starting dockerd needs root"
    mkdir -p "$CACHE/engine"
    # networking off: no iptables rules and no bridge on this machine; the stack uses the host's network
    dockerd --iptables=false --ip6tables=false --bridge=none --data-root "$CACHE/engine" \
        --exec-root "$WORK/exec" --pidfile "$WORK/dockerd.pid" --host "unix://$WORK/docker.sock" \
        >"$WORK/dockerd.log" 2>&1 9>&- &
    DAEMON_PID=$!
    export DOCKER_HOST="unix://$WORK/docker.sock"
    for _ in $(seq 1 120); do
        if docker info >/dev/null 2>&1; then
            echo "own dockerd (pid $DAEMON_PID), layers kept in $CACHE/engine"
            return
        fi
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.5
    done
    tail -n 5 "$WORK/dockerd.log" | sed 's/^/    /'
    skip "dockerd did not start (its log above)"
}

remove_leftovers() {  # a rehearsal killed outright leaves its containers, which the engine restarts
    local left
    left=$(docker ps --all --quiet --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")
    [ -z "$left" ] || docker rm --force --volumes $left >/dev/null
    docker volume ls --quiet --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" | xargs -r docker volume rm >/dev/null
    echo "$(printf '%s' "$left" | grep -c .) containers of an earlier rehearsal removed"
}

compose() {
    if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}

# --- the base image: Debian bookworm from debootstrap, with Debian's Python, PostgreSQL and Redis ---------

CA_DIR=${VIGIL_REHEARSE_CA_DIR:-/usr/local/share/ca-certificates}

base_key() {  # what the base is built from: its files, this machine's extra CAs, the suite and the mirror
    {
        cat "$ROOT/deploy/base/Dockerfile" "$ROOT/deploy/base/vigil-postgres"
        cat "$CA_DIR"/*.crt 2>/dev/null || true
        echo "$SUITE minbase $MIRROR"
    } | sha256sum | cut -c1-16
}

build_base() {
    local key tarball rootfs
    key=$(base_key)
    BASE_IMAGE="vigil-base:$SUITE-$key"
    tarball="$CACHE/base-$SUITE-$key.tar"
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        echo "$BASE_IMAGE already in the engine"
        return
    fi
    if [ -s "$tarball" ]; then
        docker load --input "$tarball" >/dev/null
        echo "$BASE_IMAGE loaded from $tarball"
        return
    fi
    command -v debootstrap >/dev/null || { echo "debootstrap is not installed (Debian: apt-get install debootstrap)"; return 1; }
    rootfs="$WORK/rootfs"
    nice -n 5 debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
        { tail -n 20 "$WORK/debootstrap.log"; return 1; }
    local security=${MIRROR%/debian}/debian-security
    printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
        "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" "$security" "$SUITE" >"$rootfs/etc/apt/sources.list"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar --numeric-owner -C "$rootfs" -c . | docker import --message "debootstrap $SUITE minbase" - "vigil-rootfs:$SUITE-$key" >/dev/null
    rm -rf --one-file-system "$rootfs"
    cp -r "$ROOT/deploy/base" "$WORK/base-context"
    cp "$CA_DIR"/*.crt "$WORK/base-context/certificates/" 2>/dev/null || true  # e.g. a TLS-inspecting proxy's
    nice -n 5 docker build --network host --build-arg "ROOTFS=vigil-rootfs:$SUITE-$key" -t "$BASE_IMAGE" \
        "$WORK/base-context" >"$WORK/base-build.log" 2>&1 || { tail -n 30 "$WORK/base-build.log"; return 1; }
    mkdir -p "$CACHE"
    rm -f "$CACHE"/base-*.tar "$CACHE"/base-*.key
    docker save --output "$tarball.partial" "$BASE_IMAGE" && mv "$tarball.partial" "$tarball"
    {
        echo "image $BASE_IMAGE"
        echo "built $(date -u +%FT%TZ) by deploy/rehearse.sh"
        echo "debootstrap $(dpkg-query -W -f '${Version}' debootstrap 2>/dev/null) --variant=minbase $SUITE $MIRROR"
        echo "deploy/base/Dockerfile sha256 $(sha256sum <"$ROOT/deploy/base/Dockerfile" | cut -c1-64)"
        echo "deploy/base/vigil-postgres sha256 $(sha256sum <"$ROOT/deploy/base/vigil-postgres" | cut -c1-64)"
        echo "extra CAs from $CA_DIR: $(cd "$CA_DIR" 2>/dev/null && ls -- *.crt 2>/dev/null | tr '\n' ' ')"
    } >"$CACHE/base-$SUITE-$key.key"
    echo "$BASE_IMAGE built (debootstrap, import, Debian packages) and saved to $tarball ($(du -h "$tarball" | cut -f1))"
}

build_images() {
    export VIGIL_BASE_IMAGE=$BASE_IMAGE
    nice -n 5 docker build --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" -t vigil:latest "$ROOT" \
        >"$WORK/vigil-build.log" 2>&1 || { tail -n 30 "$WORK/vigil-build.log"; return 1; }
    echo "vigil:latest on $BASE_IMAGE ($(docker image inspect vigil:latest --format '{{.Size}}' | awk '{ printf "%.2f GB", $1 / 1e9 }'))"
}

# --- the stack -------------------------------------------------------------------------------------------

check() {  # a step of deploy/rehearse_check.py, in a container of the image on the host's network
    docker run --rm --network host --user "$(id -u):$(id -g)" --entrypoint python \
        -e HOME=/tmp -e REHEARSE_DIR=/rehearse -e "REHEARSE_PASSWORD=$PASSWORD" -e "VIGIL_WEB_PORT=$VIGIL_WEB_PORT" \
        -e "REHEARSE_WORKER_PORTS=$VIGIL_WORKER_HEALTH_PORT_1,$VIGIL_WORKER_HEALTH_PORT_2" \
        -e "REHEARSE_HOOK_PORT=$HOOK_PORT" -e "REHEARSE_CAMERA=$CAMERA" "$@" \
        -v "$WORK:/rehearse" -v "$ROOT/deploy/rehearse_check.py:/opt/rehearse_check.py:ro" \
        vigil:latest /opt/rehearse_check.py "${CHECK_STEP:?}"
}
check_step() { CHECK_STEP=$1 check "${@:2}"; }

ports_free() {
    local port busy=""
    for port in "$VIGIL_PG_PORT" "$VIGIL_REDIS_PORT" "$VIGIL_WEB_PORT" "$VIGIL_WORKER_HEALTH_PORT_1" \
        "$VIGIL_WORKER_HEALTH_PORT_2" "$HOOK_PORT"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then busy="$busy $port"; fi
    done
    if [ -n "$busy" ]; then
        echo "ports already in use on 127.0.0.1:$busy (set VIGIL_PG_PORT etc.)"
        return 1
    fi
    echo "127.0.0.1: PostgreSQL $VIGIL_PG_PORT, Redis $VIGIL_REDIS_PORT, web $VIGIL_WEB_PORT, worker health" \
        "$VIGIL_WORKER_HEALTH_PORT_1 and $VIGIL_WORKER_HEALTH_PORT_2, webhook receiver $HOOK_PORT"
}

prepare() {
    mkdir -p "$WORK/clips"
    chmod 755 "$WORK/clips"
    python3 -c "import secrets; print(secrets.token_hex(32))" >"$WORK/audit.key" 2>/dev/null ||
        head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/audit.key"
    chmod 644 "$WORK/audit.key"  # the containers' vigil user reads it (the folder is root's alone)
    # a portrait to enrol and a clip of it walking by, rendered with the image's own sample code
    docker run --rm --network none --user "$(id -u):$(id -g)" -e HOME=/tmp -e MPLCONFIGDIR=/tmp \
        -v "$WORK/clips:/clips" --entrypoint python vigil:latest -c '
import skimage.data
from pathlib import Path
from PIL import Image
from vigil.samples import portrait_clip
face = skimage.data.astronaut()
Image.fromarray(face).save("/clips/portrait.jpg", quality=92)
portrait_clip(face, Path("/clips/walk.mp4"), seconds=6.0, fps=15, size=(640, 360))
print("portrait.jpg and walk.mp4 (6 s, 640x360, 15 fps) rendered")'
    chmod 644 "$WORK"/clips/*
}

up() {
    STACK_UP=1  # from here on cleanup takes the stack down, whatever part of it came up
    compose up --detach --no-build >"$WORK/up.log" 2>&1 || { tail -n 20 "$WORK/up.log"; return 1; }
    echo "$(compose ps --services 2>/dev/null | tr '\n' ' ')up"
}

users() {  # the first two admins and a file camera, as docs/deploy.md says: the CLI in the web container
    compose exec -T -e "REHEARSE_PASSWORD=$PASSWORD" web sh -c '
        vigil users add admin --role admin --password-env REHEARSE_PASSWORD &&
        vigil users add admin2 --role admin --password-env REHEARSE_PASSWORD &&
        vigil camera add "$0" /clips/walk.mp4 --lat 26.8467 --lon 80.9462 --fps 4' "$CAMERA" >/dev/null
    echo "admins admin and admin2, camera $CAMERA (/clips/walk.mp4) added with the CLI in the web container"
}

worker_name() {  # the name a worker service's process announced at start (its log's first line)
    compose logs --no-color "$1" 2>/dev/null | grep -o 'Vigil worker [^:]*' | tail -n 1 | cut -d' ' -f3
}

kill_holder() {
    local holder one two service container
    holder=$(check_step holder)
    one=$(worker_name worker)
    two=$(worker_name worker-2)
    if [ "$holder" = "$one" ]; then
        service=worker
        OTHER=$two
    elif [ "$holder" = "$two" ]; then
        service=worker-2
        OTHER=$one
    else
        echo "camera held by $holder, neither worker ($one, $two)"
        return 1
    fi
    container=$(compose ps -q "$service")
    KILLED_AT=$(date +%s.%N)
    docker kill --signal KILL "$container" >/dev/null
    KILLED=$holder
    echo "$holder (service $service) killed with SIGKILL; $OTHER should take the camera"
}

snapshot() {
    local alerts
    alerts=$(check_step snapshot)
    compose exec -T web sh -c 'vigil audit anchor --to /tmp/rehearse-anchor.jsonl >/dev/null && cat /tmp/rehearse-anchor.jsonl' \
        >"$WORK/anchor.jsonl"
    printf '%s; audit ' "$alerts"
    grep -o '"entries": [0-9]*\|"head": "[0-9a-f]\{16\}' "$WORK/anchor.jsonl" | tr -d '"' | tr '\n' ' '
    echo "(audit head anchored in a signed line kept outside the stack)"
}

restart() {
    compose stop --timeout 30 >"$WORK/stop.log" 2>&1 || { tail "$WORK/stop.log"; return 1; }
    compose start >"$WORK/start.log" 2>&1 || { tail "$WORK/start.log"; return 1; }
    echo "stack stopped (workers handed their cameras back) and started again"
}

audit_after() {
    compose exec -T web sh -c 'cat > /tmp/rehearse-anchor.jsonl && vigil audit verify --anchor /tmp/rehearse-anchor.jsonl' \
        <"$WORK/anchor.jsonl" | tr '\n' ' '
}

# --- the rehearsal ---------------------------------------------------------------------------------------

WORK=$(mktemp -d /tmp/vigil-rehearse.XXXXXX)
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')x9
export COMPOSE_PROJECT_NAME=vigil-rehearse COMPOSE_FILE="$ROOT/docker-compose.yml:$ROOT/docker-compose.host.yml"
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0
export REDIS_PASSWORD POSTGRES_PASSWORD
REDIS_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
POSTGRES_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
export VIGIL_CLIPS_DIR="$WORK/clips" VIGIL_AUDIT_KEY_PATH="$WORK/audit.key"
export VIGIL_OUTBOUND_ALLOWED_NETWORKS=127.0.0.1/32  # the webhook receiver is on this machine
cd "$ROOT"

mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock --nonblock 9 || { say "another rehearsal is using $CACHE"; exit 1; }
say "cache $CACHE; work $WORK"
step "engine" start_engine
step "leftovers removed" remove_leftovers
step "ports free" ports_free
step "base image" build_base
step "vigil image" build_images
step "clip and keys" prepare
step "stack up" up
step "ready" check_step ready
step "admins, camera (CLI)" users
step "users, subject, hook (API)" check_step setup
step "authorisation, red flag" check_step redflag
step "worker killed" kill_holder
step "camera taken over" check_step takeover -e "REHEARSE_KILLED_AT=$KILLED_AT" -e "REHEARSE_KILLED=$KILLED" \
    -e "REHEARSE_OTHER=$OTHER"
step "alerts and audit head" snapshot
step "stack stopped, started" restart
step "ready again" check_step ready
step "nothing lost" check_step compare
step "audit verify (web)" audit_after
say "PASSED in $(elapsed "$START") s"
