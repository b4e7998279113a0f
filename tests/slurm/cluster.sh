#!/usr/bin/env bash
# tests/slurm/cluster.sh - a throw-away single-node Slurm cluster on localhost
# (Slurm 22.05 + munge, Debian packages slurm-wlm and munge) for integration
# tests and CI. Runs as root, needs no systemd and no cgroups, and keeps every
# file under the state directory DIR: it never touches /etc/slurm, /etc/munge
# or a system munged/slurmctld/slurmd that may be running.
# Needs the Debian packages slurmctld, slurmd, slurm-client and munge (all
# pulled in by slurm-wlm): apt-get install -y slurm-wlm munge
#
#   cluster.sh start DIR   start munged, slurmctld and slurmd under DIR, wait
#                          until the node is idle, print `export NAME=VALUE`
#                          lines on stdout (progress goes to stderr). Exit 0
#                          when ready; otherwise non-zero with the reason and
#                          the daemons' log tails on stderr, after stopping
#                          whatever it had started. About 1 s on an idle
#                          machine; gives up after $SLURM_TEST_START_TIMEOUT s.
#   cluster.sh smoke DIR   sbatch --wrap 'echo hello' -o DIR/hello.out and wait
#                          for JobState=COMPLETED and the output (2-3 s
#                          right after start: the controller's first
#                          scheduling pass comes ~3 s after it starts).
#   cluster.sh status DIR  which daemons run, and sinfo.
#   cluster.sh stop DIR    cancel the jobs left, stop slurmd, slurmctld and
#                          munged through their pid files under DIR (TERM, KILL
#                          after 5 s), kill stray slurmstepd of this cluster.
#                          Idempotent; a missing DIR is fine.
#
# Caller:   eval "$(tests/slurm/cluster.sh start "$dir")"  ...  cluster.sh stop "$dir"
# Output:   lines `export NAME=VALUE`, VALUE quoted with printf %q (a plain
#           path is printed as it is). Now only SLURM_CONF=DIR/slurm.conf.
#
# Layout:   DIR/slurm.conf, DIR/plugstack.conf (empty), DIR/munge/{munge.key,
#           munge.sock,munged.seed}, DIR/run/*.pid, DIR/log/{munged,slurmctld,
#           slurmd}.log, DIR/state (StateSaveLocation), DIR/spool
#           (SlurmdSpoolDir), DIR/hello.out (smoke). `start` wipes these first
#           (a fresh cluster every time, job ids start at 1) and removes group/
#           world write permission from DIR itself (munged insists on that; it
#           also runs with --force in case a parent directory is writable).
#           DIR must be short: unix socket paths (munge socket, slurmstepd's
#           sockets in the spool dir) are limited to 108 bytes.
#
# Knobs:    SLURM_TEST_START_TIMEOUT  seconds start may take (60)
#           SLURM_TEST_PORT_BASE      SlurmctldPort; SlurmdPort is the next one;
#                                     the first pair from here (step 2) with
#                                     nothing listening is used (16817)
#           SLURM_TEST_CRED_EXPIRE    AuthInfo cred_expire, seconds (10; see
#                                     requeue below; Slurm's default is 120)
#           Other SLURM_*/SBATCH_*/SQUEUE_* variables of the caller are ignored
#           by the script itself.
#
# Config:   AuthInfo=socket=DIR/munge/munge.sock points auth/munge and
#           cred/munge at our munged. SlurmctldHost=<hostname -s>(127.0.0.1);
#           NodeName=<hostname -s> NodeAddr=127.0.0.1 with the hardware line of
#           `slurmd -C` (so slurmd's registration always matches); slurmd runs
#           with -N <hostname -s>. One partition `debug` (default, MaxTime=
#           INFINITE). proctrack/linuxproc, task/none, no accounting: `sacct`
#           does not work, use `scontrol show job ID` (finished jobs are kept
#           MinJobAge=600 s). select/cons_tres + CR_CPU: one single-CPU task per
#           CPU runs at the same time. Harmless errors in the logs: mpi/pmix
#           "can not load PMIx library", and missing job_state/resv_state files.
#
# ---------------------------------------------------------------------------
# Verified by hand on this cluster (Slurm 22.05.8, 2 CPUs, this config):
#
#  Array job:  A=$(sbatch --parsable --array=0-2 -o 'DIR/a_%A_%a.out' --wrap ...)
#      Tasks are A_0, A_1, A_2 ($SLURM_ARRAY_TASK_ID); two run at once, the
#      third waits with Reason=Resources.
#  Dependent job:  J=$(sbatch --parsable --dependency=afterok:$A --wrap ...)
#      Waits for all tasks (squeue %E: afterok:A_*(unfulfilled)) and starts
#      within ~0.5-2 s of the last task completing.
#  Cancel one task:  scancel ${A}_1
#      That task becomes CANCELLED (ExitCode=0:15); the others go on.
#  Requeue:  scontrol requeue ${A}_1
#      Works on a RUNNING task and on a finished one (CANCELLED, COMPLETED,
#      FAILED) because JobRequeue=1 (written in slurm.conf; it is also Slurm's
#      default). A job submitted with --no-requeue answers "Requested
#      operation is presently disabled"; a PENDING task answers "Job is
#      pending execution" (exit 1). The task goes back to PENDING with
#      Reason=BeginTime: it is not eligible before cred_expire+1 s (11 s here,
#      121 s with Slurm's default), so it restarts ~12 s later, with
#      SLURM_RESTART_COUNT=1 and Restarts=1 in scontrol. To skip the wait:
#      scontrol update JobId=${A}_1 StartTime=now (it starts within ~3 s).
#      The task's -o file is truncated when it restarts.
#
#  afterok and requeue - what happens to the dependent job J:
#   1. `scontrol requeue ${A}_1` on the RUNNING task, without scancel:
#      the task never ends in a failed state; J (afterok:$A) stays
#      unfulfilled, waits for the rerun and runs after it completes. Also
#      when A_1 is the last task still running. This is the way to simulate
#      "a task was killed and retried".
#   2. `scancel ${A}_1` then `scontrol requeue ${A}_1`: the rerun completes
#      fine, but J's dependency has failed for good: Reason=
#      DependencyNeverSatisfied, Dependency=afterok:A_*(failed). This happens
#      even when the requeue follows the scancel at once (before the other
#      tasks finish) and even for a task cancelled while PENDING (ExitCode
#      0:0): the array keeps the fact that one of its tasks ended non-OK.
#      With explicit task ids (--dependency=afterok:A_0:A_1:A_2) the entry
#      for A_1 is marked failed the moment it is cancelled and stays failed
#      after the requeue. J is not cancelled (kill_invalid_depend is not set;
#      with --kill-on-invalid-dep=yes it would be) - it stays PENDING forever.
#      What works: after the requeue, reset J's dependency with explicit task
#      ids:  scontrol update JobId=$J Dependency=afterok:${A}_0:${A}_1:${A}_2
#      It is evaluated afresh; J waits for the rerun of A_1 and runs after
#      it completes. Resetting it to the whole array (Dependency=afterok:$A)
#      does NOT help: it is at once afterok:A_*(failed) again.
#   3. afterany:$A and a check inside J: racy. When the cancelled task was the
#      last unfinished one, the scancel satisfies afterany and J starts within
#      ~0.1 s, before `scontrol requeue` can put the task back; only when
#      other tasks are still running does J wait for the rerun.
# ---------------------------------------------------------------------------
set -euo pipefail

PROG=${0##*/}
# The daemons live in /usr/sbin, which a non-login PATH may lack.
PATH=$PATH:/usr/sbin:/sbin

# Our own knobs, read before the caller's SLURM_* variables are dropped.
START_TIMEOUT=${SLURM_TEST_START_TIMEOUT:-60}
PORT_BASE=${SLURM_TEST_PORT_BASE:-16817}
CRED_EXPIRE=${SLURM_TEST_CRED_EXPIRE:-10}
[[ $START_TIMEOUT =~ ^[0-9]+$ && $PORT_BASE =~ ^[0-9]+$ && $CRED_EXPIRE =~ ^[0-9]+$ ]] \
    || { echo "$PROG: SLURM_TEST_* settings must be whole numbers" >&2; exit 2; }

# Variables such as SBATCH_PARTITION or SLURM_JOB_ID (when this runs inside a
# real Slurm job) would change what sbatch/squeue do here.
while read -r var; do
    unset "$var"
done < <(compgen -e | grep -E '^(SLURM|SBATCH|SALLOC|SRUN|SQUEUE|SINFO|SCONTROL|SCANCEL)_' || true)

# ---------------------------------------------------------------- helpers --

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    cat >&2 <<EOF
usage: $PROG start DIR    start munged + slurmctld + slurmd under DIR, print export lines
       $PROG stop DIR     stop the daemons started under DIR (idempotent)
       $PROG smoke DIR    run 'echo hello' as a batch job on the running cluster
       $PROG status DIR   show which daemons are running and sinfo
EOF
    exit 2
}

need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 \
            || die "command not found: $c (install the Debian packages slurm-wlm and munge)"
    done
}

# Absolute, symlink-free path of directory $1 (created first if $2 is yes).
abs_dir() {
    local d=$1 create=$2
    if [[ $create == yes ]]; then
        mkdir -p -- "$d"
    fi
    [[ -d $d ]] || die "not a directory: $d"
    (cd -- "$d" && pwd -P)
}

set_paths() {
    DIR=$1
    CONF=$DIR/slurm.conf
    PLUGSTACK=$DIR/plugstack.conf
    RUN=$DIR/run
    LOGDIR=$DIR/log
    MUNGE_DIR=$DIR/munge
    MUNGE_KEY=$MUNGE_DIR/munge.key
    MUNGE_SOCKET=$MUNGE_DIR/munge.sock
    MUNGE_SEED=$MUNGE_DIR/munged.seed
    MUNGE_PID=$RUN/munged.pid
    MUNGE_LOG=$LOGDIR/munged.log
    CTLD_PID=$RUN/slurmctld.pid
    CTLD_LOG=$LOGDIR/slurmctld.log
    SLURMD_PID=$RUN/slurmd.pid
    SLURMD_LOG=$LOGDIR/slurmd.log
    STATE_DIR=$DIR/state
    SPOOL_DIR=$DIR/spool
    # Put into the daemons' environment; slurmstepd inherits it from slurmd,
    # which lets `stop` find step daemons of this cluster left behind.
    MARKER="DEEPLENS_SLURM_CLUSTER_DIR=$DIR"
    export SLURM_CONF=$CONF
}

# The node name slurmd uses by default: the short host name.
node_name() {
    local n
    n=$(hostname -s 2>/dev/null || true)
    [[ -n $n ]] || n=$(uname -n)
    printf '%s\n' "${n%%.*}"
}

# Print the pid in pid file $1 if that process is alive and named $2.
live_pid() {
    local file=$1 name=$2 pid comm
    [[ -r $file ]] || return 1
    pid=$(tr -dc '0-9' <"$file" 2>/dev/null || true)
    [[ -n $pid ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    [[ $comm == "$name" ]] || return 1
    printf '%s\n' "$pid"
}

# stop_daemons GRACE PIDFILE:NAME...: TERM the live processes of these pid
# files (checked by name), KILL those left after GRACE s, wait for them.
stop_daemons() {
    local grace=$1 spec pid i alive pids=()
    shift
    for spec in "$@"; do
        if pid=$(live_pid "${spec%:*}" "${spec##*:}"); then
            log "stopping ${spec##*:} (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f -- "${spec%:*}"
    done
    (( ${#pids[@]} )) || return 0
    for ((i = 0; i < grace * 10 + 50; i++)); do
        alive=()
        for pid in "${pids[@]}"; do
            [[ -e /proc/$pid ]] && alive+=("$pid")
        done
        (( ${#alive[@]} )) || return 0
        if (( i == grace * 10 )); then
            log "still running after ${grace}s, sending KILL: ${alive[*]}"
            kill -KILL "${alive[@]}" 2>/dev/null || true
        fi
        sleep 0.1
    done
    log "warning: could not stop pids ${alive[*]}"
}

# True if some process listens on TCP port $1.
port_in_use() {
    local p=$1
    if command -v ss >/dev/null 2>&1 \
        && ss -Hltn "( sport = :$p )" 2>/dev/null | grep -q .; then
        return 0
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
}

# Print "CTLD_PORT SLURMD_PORT", the first free pair from PORT_BASE.
pick_ports() {
    local p
    for ((p = PORT_BASE; p < PORT_BASE + 400 && p < 65535; p += 2)); do
        if ! port_in_use "$p" && ! port_in_use "$((p + 1))"; then
            printf '%s %s\n' "$p" "$((p + 1))"
            return 0
        fi
    done
    return 1
}

tail_logs() {
    local f
    for f in "$MUNGE_LOG" "$CTLD_LOG" "$SLURMD_LOG"; do
        if [[ -s $f ]]; then
            printf '\n----- last 30 lines of %s -----\n' "$f" >&2
            tail -n 30 -- "$f" >&2 || true
        else
            printf '\n----- %s: missing or empty -----\n' "$f" >&2
        fi
    done
    printf '%s\n' '-----' >&2
}

# ------------------------------------------------------------------ start --

write_conf() {
    local ctld_port=$1 slurmd_port=$2 node_line=$3
    cat >"$CONF" <<EOF
# Written by $PROG for a throw-away single-node test cluster.
ClusterName=deeplens-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root

# auth/munge and cred/munge both use this socket, i.e. our own munged.
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=$CRED_EXPIRE

StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$CTLD_LOG
SlurmdLogFile=$SLURMD_LOG
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$PLUGSTACK

# No cgroups in containers, no accounting daemon.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true

SchedulerType=sched/backfill
# Frequent scheduling passes, so requeued jobs start within seconds.
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobRequeue=1
MinJobAge=600
InactiveLimit=0
KillWait=5
SlurmctldTimeout=30
SlurmdTimeout=60

$node_line
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

START_OK=no
on_start_exit() {
    local rc=$?
    [[ $START_OK == yes ]] && return 0
    [[ $rc -ne 0 ]] || rc=1
    log "start failed; logs of the daemons follow, then everything started is stopped"
    tail_logs
    do_stop quiet || true
    exit "$rc"
}

start_fail() {
    log "error: $*"
    exit 1
}

# Fail at once if daemon $2 (pid file $1, log $3) has died or logged a fatal
# error, instead of waiting for the timeout.
check_daemon() {
    local pidfile=$1 name=$2 logfile=$3
    if [[ -s $pidfile ]] && ! live_pid "$pidfile" "$name" >/dev/null; then
        start_fail "$name exited"
    fi
    if [[ -f $logfile ]] && grep -qE 'fatal|Error:' -- "$logfile"; then
        start_fail "$name: $(grep -m1 -E 'fatal|Error:' -- "$logfile")"
    fi
}

do_start() {
    local deadline ports ctld_port slurmd_port node_cfg node_line state f n

    need_cmd munged munge unmunge slurmctld slurmd sinfo sbatch scontrol squeue scancel timeout
    [[ $(id -u) -eq 0 ]] || die "must run as root (SlurmUser=root, SlurmdUser=root)"

    NODE=$(node_name)
    # Longest socket paths: the munge socket, and slurmstepd's
    # SPOOL_DIR/NODE_JOBID.STEPID (two 10-digit numbers).
    n=$(( ${#SPOOL_DIR} + 1 + ${#NODE} + 22 ))
    (( ${#MUNGE_SOCKET} > n )) && n=${#MUNGE_SOCKET}
    (( n <= 107 )) || die "state directory path is too long for unix sockets (${#DIR} chars): $DIR"

    for n in munged slurmctld slurmd; do
        if live_pid "$RUN/$n.pid" "$n" >/dev/null; then
            die "$n is already running for $DIR; run '$PROG stop $DIR' first"
        fi
    done

    deadline=$((SECONDS + START_TIMEOUT))
    trap on_start_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    rm -rf -- "$RUN" "$LOGDIR" "$MUNGE_DIR" "$STATE_DIR" "$SPOOL_DIR" \
        "$CONF" "$PLUGSTACK" "$DIR/hello.out"
    chmod go-w -- "$DIR"
    mkdir -p -- "$RUN" "$LOGDIR" "$STATE_DIR" "$SPOOL_DIR"
    mkdir -m 0755 -- "$MUNGE_DIR"
    : >"$PLUGSTACK"

    # ---- munged
    dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none
    chmod 0400 -- "$MUNGE_KEY"
    log "starting munged (socket $MUNGE_SOCKET)"
    env "$MARKER" munged --force \
        --socket="$MUNGE_SOCKET" --key-file="$MUNGE_KEY" \
        --pid-file="$MUNGE_PID" --log-file="$MUNGE_LOG" --seed-file="$MUNGE_SEED" \
        </dev/null >>"$MUNGE_LOG" 2>&1 || start_fail "munged failed to start"
    until [[ -S $MUNGE_SOCKET ]] \
        && munge -n -S "$MUNGE_SOCKET" 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; do
        (( SECONDS < deadline )) || start_fail "munged does not answer on $MUNGE_SOCKET"
        check_daemon "$MUNGE_PID" munged "$MUNGE_LOG"
        sleep 0.2
    done

    # ---- slurm.conf
    # `slurmd -C` prints the hardware as slurmd will register it; a node
    # configured with more than that would be drained.
    node_cfg=$(timeout 20 slurmd -C 2>/dev/null | grep -m1 '^NodeName=' || true)
    if [[ -n $node_cfg && $node_cfg == *' '* ]]; then
        node_cfg=${node_cfg#* }
        node_cfg=${node_cfg%% UpTime=*}
    else
        node_cfg="CPUs=$(nproc)"
    fi
    node_line="NodeName=$NODE NodeHostname=$NODE NodeAddr=127.0.0.1 $node_cfg State=UNKNOWN"
    ports=$(pick_ports) || start_fail "no free pair of TCP ports from $PORT_BASE on"
    read -r ctld_port slurmd_port <<<"$ports"
    write_conf "$ctld_port" "$slurmd_port" "$node_line"

    # ---- slurmctld (-c: no old job state, -i: ignore state file errors)
    log "starting slurmctld (port $ctld_port, node $NODE)"
    env "$MARKER" slurmctld -f "$CONF" -c -i </dev/null >>"$CTLD_LOG" 2>&1 \
        || start_fail "slurmctld failed to start"
    until timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; do
        (( SECONDS < deadline )) || start_fail "slurmctld does not answer on port $ctld_port"
        check_daemon "$CTLD_PID" slurmctld "$CTLD_LOG"
        sleep 0.3
    done

    # ---- slurmd
    log "starting slurmd (port $slurmd_port)"
    env "$MARKER" slurmd -f "$CONF" -N "$NODE" </dev/null >>"$SLURMD_LOG" 2>&1 \
        || start_fail "slurmd failed to start"

    # ---- wait for the node to be idle
    while :; do
        state=$(timeout 10 sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n1 || true)
        [[ $state == idle ]] && break
        case $state in
            drain* | fail*)
                start_fail "node $NODE is $state: $(timeout 5 scontrol show node "$NODE" | grep -o 'Reason=.*' || true)" ;;
        esac
        (( SECONDS < deadline )) \
            || start_fail "node $NODE not idle after ${START_TIMEOUT}s (state: ${state:-none}) $(timeout 5 scontrol show node "$NODE" 2>/dev/null | grep -o 'Reason=.*' || true)"
        for f in "$CTLD_PID slurmctld $CTLD_LOG" "$SLURMD_PID slurmd $SLURMD_LOG" "$MUNGE_PID munged $MUNGE_LOG"; do
            # shellcheck disable=SC2086 # three words on purpose
            check_daemon $f
        done
        sleep 0.3
    done

    START_OK=yes
    trap - EXIT INT TERM
    log "cluster ready after ${SECONDS}s: node $NODE idle, partition debug, slurmctld on port $ctld_port"
    printf 'export SLURM_CONF=%q\n' "$CONF"
}

# ------------------------------------------------------------------- stop --

# Print the pids of all descendants of the given pids (read from /proc, so
# procps is not needed).
descendants() {
    local -A kids=()
    local p stat ppid queue=("$@")
    for p in /proc/[0-9]*; do
        stat=$(cat "$p/stat" 2>/dev/null) || continue
        stat=${stat##*) }          # after "(comm) ": state ppid ...
        ppid=${stat#* }
        ppid=${ppid%% *}
        kids[$ppid]+="${p#/proc/} "
    done
    while (( ${#queue[@]} )); do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        for stat in ${kids[$p]:-}; do
            printf '%s\n' "$stat"
            queue+=("$stat")
        done
    done
}

# Kill slurmstepd processes of this cluster (they carry MARKER, inherited
# from slurmd) with their job processes, e.g. after slurmctld died while
# jobs were running, so that nothing is left behind.
kill_stray_stepds() {
    local p i alive stepds=() pids=()
    for p in /proc/[0-9]*; do
        [[ $(cat "$p/comm" 2>/dev/null || true) == slurmstepd ]] || continue
        if tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qxF -- "$MARKER"; then
            stepds+=("${p#/proc/}")
        fi
    done
    (( ${#stepds[@]} )) || return 0
    mapfile -t pids < <(descendants "${stepds[@]}")
    pids=("${stepds[@]}" "${pids[@]}")
    log "killing leftover slurmstepd and job processes: ${pids[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive=()
        for p in "${pids[@]}"; do
            [[ -e /proc/$p ]] && alive+=("$p")
        done
        (( ${#alive[@]} )) || return 0
        if (( i == 20 )); then
            kill -KILL "${alive[@]}" 2>/dev/null || true
        fi
        sleep 0.1
    done
}

do_stop() {
    local quiet=${1:-} i jobs
    # Cancel what is left while the controller is there, so the step daemons
    # and job processes go away properly.
    if [[ -r $CONF ]] && live_pid "$CTLD_PID" slurmctld >/dev/null; then
        jobs=$(timeout 5 squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ' || true)
        if [[ -n ${jobs// /} ]]; then
            [[ $quiet == quiet ]] || log "cancelling jobs: $jobs"
            # shellcheck disable=SC2086 # one word per job id
            timeout 10 scancel $jobs >/dev/null 2>&1 || true
            for ((i = 0; i < 50; i++)); do
                [[ -z $(timeout 5 squeue -h -o %i 2>/dev/null || true) ]] && break
                sleep 0.2
            done
        fi
    fi
    stop_daemons 5 "$SLURMD_PID:slurmd"
    kill_stray_stepds
    stop_daemons 5 "$CTLD_PID:slurmctld" "$MUNGE_PID:munged"
    rm -f -- "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
}

# ------------------------------------------------------------------ smoke --

do_smoke() {
    local out=$DIR/hello.out id state='' i
    [[ -r $CONF ]] || die "no cluster under $DIR (run '$PROG start $DIR' first)"
    rm -f -- "$out"
    id=$(timeout 20 sbatch --parsable -o "$out" --wrap 'echo hello') || die "sbatch failed"
    id=${id%%;*}
    log "submitted job $id"
    for ((i = 0; i < 300; i++)); do
        state=$(timeout 5 scontrol show job "$id" 2>/dev/null | grep -o 'JobState=[A-Z_]*' || true)
        state=${state#JobState=}
        case $state in
            COMPLETED) break ;;
            FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
                die "job $id ended $state" ;;
        esac
        sleep 0.2
    done
    [[ $state == COMPLETED ]] || die "job $id not completed after 60s (state: ${state:-unknown})"
    for ((i = 0; i < 50; i++)); do
        [[ -s $out ]] && break
        sleep 0.1
    done
    [[ $(cat -- "$out" 2>/dev/null) == hello ]] \
        || die "job $id wrote $(cat -- "$out" 2>/dev/null || echo nothing) to $out, not 'hello'"
    log "smoke test passed: job $id COMPLETED and wrote 'hello'"
}

do_status() {
    local n p rc=0
    for n in munged slurmctld slurmd; do
        if p=$(live_pid "$RUN/$n.pid" "$n"); then
            printf '%s running (pid %s)\n' "$n" "$p"
        else
            printf '%s not running\n' "$n"
            rc=1
        fi
    done
    if [[ -r $CONF ]] && live_pid "$CTLD_PID" slurmctld >/dev/null; then
        timeout 10 sinfo || true
    fi
    return "$rc"
}

# ------------------------------------------------------------------- main --

[[ $# -eq 2 && -n $2 ]] || usage
case $1 in
    start)
        set_paths "$(abs_dir "$2" yes)"
        do_start
        ;;
    stop)
        [[ -d $2 ]] || exit 0
        set_paths "$(abs_dir "$2" no)"
        do_stop
        ;;
    smoke)
        set_paths "$(abs_dir "$2" no)"
        do_smoke
        ;;
    status)
        set_paths "$(abs_dir "$2" no)"
        do_status
        ;;
    *) usage ;;
esac
