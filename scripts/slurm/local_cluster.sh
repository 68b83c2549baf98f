#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for the integration tests.
#
#   bash scripts/slurm/local_cluster.sh start    # install if needed, configure, start, wait for idle
#   bash scripts/slurm/local_cluster.sh status   # exit 0 when the node answers and is usable
#   bash scripts/slurm/local_cluster.sh stop     # stop the daemons this script started, remove its configs
#
# Needs root. Works without systemd or cgroups (containers, CI runners).
#
# The node advertises more than the machine has: LOCAL_SLURM_CPUS CPUs and
# LOCAL_SLURM_GPUS GPUs (stand-in device files), so jobs can ask for what a real
# GPU node offers (--gpus=8 --cpus-per-task=32) and the tests can read each
# job's request back from SLURM, while the jobs themselves run on the CPU.
# Memory is advertised as it is, so what SLURM hands out is really there.
#
# Environment:
#   LOCAL_SLURM_DIR    state, spool, logs and PID files (default /tmp/handbook-slurm)
#   LOCAL_SLURM_CPUS   CPUs the node advertises (default 64)
#   LOCAL_SLURM_GPUS   GPUs the node advertises (default 8; 0 for none)
#   LOCAL_SLURM_FORCE  set to 1 to move a slurm.conf or gres.conf this script did
#                      not write aside (to <file>.bak.<time>) instead of refusing to start
set -euo pipefail

STATE_DIR="${LOCAL_SLURM_DIR:-/tmp/handbook-slurm}"
# Debian builds SLURM with --sysconfdir=/etc/slurm; the tools read nothing else
# unless SLURM_CONF is set, so the file has to live there.
SLURM_CONF_PATH="/etc/slurm/slurm.conf"
# slurmd and slurmctld read gres.conf from the directory of slurm.conf.
GRES_CONF_PATH="/etc/slurm/gres.conf"
MARKER="# written by scripts/slurm/local_cluster.sh"
MUNGE_KEY="/etc/munge/munge.key"
NODE="$(hostname -s)"
CLUSTER_NAME="handbook"
START_TIMEOUT_S=60
NODE_CPUS="${LOCAL_SLURM_CPUS:-64}"
NODE_GPUS="${LOCAL_SLURM_GPUS:-8}"

say() { echo "[local-slurm] $*"; }
die() { echo "[local-slurm] ERROR: $*" >&2; exit 1; }

check_node_size() {
    [[ $NODE_CPUS =~ ^[1-9][0-9]*$ ]] || die "LOCAL_SLURM_CPUS must be a positive integer, not '$NODE_CPUS'"
    [[ $NODE_GPUS =~ ^[0-9]+$ ]] || die "LOCAL_SLURM_GPUS must be a non-negative integer, not '$NODE_GPUS'"
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts root daemons)"
}

# PID from a file, only if that process is alive and is the expected program:
# a stale file must never make us signal an unrelated process that reused the PID.
live_pid() {
    local pidfile=$1 name=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(tr -dc '0-9' <"$pidfile")
    [[ -n $pid && -r /proc/$pid/comm ]] || return 1
    [[ $(cat "/proc/$pid/comm") == "$name" ]] || return 1
    echo "$pid"
}

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    command -v munged >/dev/null || missing+=(munge)
    if ((${#missing[@]} == 0)); then
        return
    fi
    say "installing ${missing[*]} (apt-get)"
    local t0=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    say "installed in $((SECONDS - t0)) s"
}

start_munge() {
    local pid
    if [[ ! -s $MUNGE_KEY ]]; then
        say "creating munge key $MUNGE_KEY"
        install -d -o munge -g munge -m 0700 /etc/munge
        # 1024 random bytes is what mungekey produces by default.
        (umask 077 && dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none)
    fi
    chown munge:munge "$MUNGE_KEY"
    chmod 0400 "$MUNGE_KEY"
    # munged refuses directories that others could write to.
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge

    if pid=$(live_pid /run/munge/munged.pid munged); then
        say "munged already running (pid $pid)"
    else
        rm -f /run/munge/munged.pid
        say "starting munged"
        runuser -u munge -- /usr/sbin/munged
        # munged forks and writes its PID file once its socket is ready.
        for _ in $(seq 50); do
            pid=$(live_pid /run/munge/munged.pid munged) && break
            sleep 0.1
        done
        [[ -n ${pid:-} ]] || { tail -n 20 /var/log/munge/munged.log >&2 || true; die "munged did not start"; }
        echo "$pid" >"$STATE_DIR/munged.pid"
    fi
    munge -n | unmunge >/dev/null || die "munge credentials do not round-trip"
}

written_here() {
    [[ -e $1 ]] && head -n 1 "$1" | grep -qxF "$MARKER"
}

# Refuse to replace a slurm.conf or gres.conf someone else wrote: it may
# describe a real cluster.
claim_config() {
    local path backup
    for path in "$SLURM_CONF_PATH" "$GRES_CONF_PATH"; do
        [[ -e $path ]] || continue
        written_here "$path" && continue
        if [[ ${LOCAL_SLURM_FORCE:-0} == 1 ]]; then
            backup="$path.bak.$(date +%Y%m%d%H%M%S)"
            mv "$path" "$backup"
            say "moved the existing $path to $backup"
        else
            die "$path exists and was not written by this script; refusing to overwrite it.
Move it away yourself, or rerun with LOCAL_SLURM_FORCE=1 to have it renamed to $path.bak.<time>."
        fi
    done
}

# GPUs without GPUs. A count-only entry (Name=gpu Count=N, no File=) would be
# the natural form, but slurmd drops file-less GPUs ("Removing file-less GPU
# gpu:(null) from final GRES list"), registers gpu:0 and slurmctld drains the
# node; config_overrides does not help. So each GPU gets a File= of its own in
# the state folder: a character device with /dev/null's numbers, so whatever
# opened one would get /dev/null (nothing does: no cgroups here, so no device
# access is ever restricted). With a device file slurmd also sets
# CUDA_VISIBLE_DEVICES in the job, as on a real GPU node. Where mknod is not
# allowed (a container without CAP_MKNOD) an empty regular file still counts
# as a GPU; slurmd then logs "not a valid character or block device" for each
# and leaves CUDA_VISIBLE_DEVICES unset.
write_gres_config() {
    rm -rf "$STATE_DIR/gpus"
    if ((NODE_GPUS == 0)); then
        rm -f "$GRES_CONF_PATH"
        return
    fi
    install -d -m 0755 "$STATE_DIR/gpus"
    local i dev tmp
    for ((i = 0; i < NODE_GPUS; i++)); do
        dev="$STATE_DIR/gpus/nvidia$i"
        mknod -m 0666 "$dev" c 1 3 2>/dev/null || : >"$dev"
    done
    tmp=$(mktemp "$GRES_CONF_PATH.XXXXXX")
    cat >"$tmp" <<EOF
$MARKER
# 'local_cluster.sh stop' deletes this file; 'start' writes it again.
# This machine has no GPUs: the files stand in for /dev/nvidia* device nodes.
AutoDetect=off
NodeName=$NODE Name=gpu File=$STATE_DIR/gpus/nvidia[0-$((NODE_GPUS - 1))]
EOF
    chmod 0644 "$tmp"
    mv "$tmp" "$GRES_CONF_PATH"
}

write_config() {
    local real_cpus mem_total_mb real_mem_mb def_mem gres_types="" node_gres=""
    real_cpus=$(nproc)
    mem_total_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
    # slurmd drains a node whose RealMemory exceeds what it measures, and the
    # measurement varies a little; keep 5% (at least 512 MB) in reserve.
    real_mem_mb=$((mem_total_mb - (mem_total_mb / 20 > 512 ? mem_total_mb / 20 : 512)))
    # Without a default a job that gives no --mem is granted the whole node's
    # memory and every other job then queues behind it. The default is per job
    # (DefMemPerNode), not per CPU: DefMemPerCPU x the advertised CPUs exceeds
    # RealMemory, so SLURM would refuse outright a job with no --mem that asks
    # for more than RealMemory/DefMemPerCPU CPUs (11 on 24 GB). It is sized
    # from the real core count: a job gets what one real core's share would be.
    def_mem=$((real_mem_mb / real_cpus / 2))
    ((def_mem > 2048)) && def_mem=2048
    if ((NODE_GPUS > 0)); then
        gres_types="GresTypes=gpu"
        node_gres="Gres=gpu:$NODE_GPUS"
    fi

    install -d -m 0755 /etc/slurm
    local tmp
    tmp=$(mktemp "$SLURM_CONF_PATH.XXXXXX")
    cat >"$tmp" <<EOF
$MARKER
# 'local_cluster.sh stop' deletes this file; 'start' writes it again.
ClusterName=$CLUSTER_NAME
# The node talks to itself over loopback, whatever the host's network looks like.
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none

StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=$STATE_DIR/slurmctld.log
SlurmdLogFile=$STATE_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info

# No systemd and no writable cgroup tree here: track processes by parentage.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none

# No slurmdbd: sacct cannot report jobs, so clients must poll with squeue.
AccountingStorageType=accounting_storage/none
# No AccountingStorageTRES=gres/gpu either: slurmctld refuses to start with it
# unless slurmdbd runs. A job's GPU request still shows in scontrol show job.
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none

SchedulerType=sched/backfill
# Start a batch job as soon as it is submitted; the default 3 s batching delay
# only pays off when thousands of jobs arrive at once.
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Finished jobs stay visible to squeue this long; it must be far above the
# status-poll interval of the Snakemake executor or finished jobs vanish unseen.
MinJobAge=600
# A node that went down (e.g. this script was stopped mid-job) comes back by itself.
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
Waittime=0

# The node line below claims more CPUs (and GPUs) than the machine has; without
# config_overrides slurmd would report the real hardware and slurmctld would
# drain the node for having fewer CPUs than configured.
SlurmdParameters=config_overrides
$gres_types
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$NODE_CPUS RealMemory=$real_mem_mb $node_gres State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=24:00:00 DefaultTime=01:00:00 DefMemPerNode=$def_mem State=UP
EOF
    chmod 0644 "$tmp"
    # gres.conf first: slurm.conf names the GPUs that gres.conf defines.
    write_gres_config
    mv "$tmp" "$SLURM_CONF_PATH"
    say "wrote $SLURM_CONF_PATH ($NODE_CPUS CPUs advertised on $real_cpus real, $NODE_GPUS stand-in GPUs, RealMemory=${real_mem_mb} MB, DefMemPerNode=${def_mem} MB)"
}

node_state() {
    sinfo --noheader --nodes="$NODE" --format=%T 2>/dev/null | head -n 1
}

show_logs() {
    local f
    for f in "$STATE_DIR/slurmctld.log" "$STATE_DIR/slurmd.log" /var/log/munge/munged.log; do
        echo "----- $f (last 40 lines) -----" >&2
        tail -n 40 "$f" >&2 2>/dev/null || echo "(missing)" >&2
    done
}

cmd_start() {
    need_root
    check_node_size
    local running=0 pid
    live_pid "$STATE_DIR/slurmctld.pid" slurmctld >/dev/null && running=$((running + 1))
    live_pid "$STATE_DIR/slurmd.pid" slurmd >/dev/null && running=$((running + 1))
    ((running > 0)) || claim_config
    install -d -m 0755 "$STATE_DIR" "$STATE_DIR/ctld" "$STATE_DIR/slurmd"
    install_packages
    start_munge

    if ((running == 0)); then
        # Only rewrite the config while nothing reads it: a running slurmctld
        # would disagree with its own file until restarted.
        write_config
        # slurmctld carries a node's DRAIN state and reason across restarts;
        # one set under an earlier config (e.g. a GPU count that has since been
        # fixed) would keep the node out of service under the new one. Jobs
        # and job ids are kept, only the node starts afresh from slurm.conf.
        rm -f "$STATE_DIR/ctld/node_state" "$STATE_DIR/ctld/node_state.old"
    fi

    local t0=$SECONDS
    if pid=$(live_pid "$STATE_DIR/slurmctld.pid" slurmctld); then
        say "slurmctld already running (pid $pid)"
    else
        say "starting slurmctld"
        slurmctld || { show_logs; die "slurmctld failed to start"; }
    fi
    if pid=$(live_pid "$STATE_DIR/slurmd.pid" slurmd); then
        say "slurmd already running (pid $pid)"
    else
        say "starting slurmd -N $NODE"
        slurmd -N "$NODE" || { show_logs; die "slurmd failed to start"; }
    fi

    local state=""
    while ((SECONDS - t0 < START_TIMEOUT_S)); do
        state=$(node_state || true)
        case "$state" in
        idle | mixed | allocated | completing) break ;;
        esac
        sleep 1
    done
    case "$state" in
    idle | mixed | allocated | completing) ;;
    *)
        show_logs
        die "node $NODE is '${state:-not reported}' after ${START_TIMEOUT_S} s, expected idle"
        ;;
    esac
    say "node $NODE is $state after $((SECONDS - t0)) s; state in $STATE_DIR"
    sinfo
}

stop_daemon() {
    local name=$1 pidfile=$2 pid
    if ! pid=$(live_pid "$pidfile" "$name"); then
        say "$name not running"
        rm -f "$pidfile"
        return
    fi
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do
        [[ -d /proc/$pid ]] || break
        sleep 0.1
    done
    if [[ -d /proc/$pid ]]; then
        say "$name did not exit after 30 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$pidfile"
}

cmd_stop() {
    need_root
    # slurmd first, so slurmctld does not spend its last moments marking the node down.
    stop_daemon slurmd "$STATE_DIR/slurmd.pid"
    stop_daemon slurmctld "$STATE_DIR/slurmctld.pid"
    # munged is stopped only when this script started it; it may serve other users.
    if [[ -s $STATE_DIR/munged.pid ]]; then
        stop_daemon munged "$STATE_DIR/munged.pid"
    fi
    # With a config naming a controller that is gone, every SLURM client waits
    # ~10 s before failing, and Snakemake's SLURM plugin calls scontrol on
    # import, so even local runs would stall. start writes the files again.
    local path
    for path in "$SLURM_CONF_PATH" "$GRES_CONF_PATH"; do
        if written_here "$path"; then
            rm -f "$path"
            say "removed $path"
        fi
    done
    say "stopped"
}

cmd_status() {
    local ok=0 pid
    for name in slurmctld slurmd; do
        if pid=$(live_pid "$STATE_DIR/$name.pid" "$name"); then
            say "$name running (pid $pid)"
        else
            say "$name not running"
            ok=1
        fi
    done
    if ((ok != 0)) || ! command -v sinfo >/dev/null; then
        say "DOWN (start it with: bash scripts/slurm/local_cluster.sh start)"
        return 1
    fi
    local state
    state=$(node_state || true)
    sinfo || true
    case "$state" in
    idle | mixed | allocated | completing)
        say "UP: node $NODE is $state"
        ;;
    *)
        say "DOWN: node $NODE is '${state:-not reported}'"
        return 1
        ;;
    esac
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
