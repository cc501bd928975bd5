#!/bin/sh
# A scriptable "game server" for integration tests. It announces itself, prints the egg's
# done line ("Server started") after a delay, then obeys console commands read from stdin:
#
#   stop                    print "Stopping" and exit 0 (the egg's stop command)
#   echo TEXT               print TEXT
#   flood N                 print "flood line 0" .. "flood line N-1" as fast as possible
#   tick N [MICROSECONDS]   print "tick 0".."tick N-1", pausing between lines (default 1000)
#   stamp N [MICROSECONDS]  print "stamp I <seconds.micros since the epoch>" N times, one line
#                           every MICROSECONDS (default 1000) on an absolute schedule
#   crash [CODE]            exit with CODE (default 1)
#   sleep-exit SECONDS [CODE]  exit with CODE (default 0) after SECONDS
#   env NAME                print NAME=<value of $NAME>
#   id                      print the uid and gid the game runs as
#   write FILE TEXT         write TEXT to /home/container/FILE
#   burn SECONDS            keep one CPU busy for SECONDS, then print "Burned"
#   ignore-stop             ignore later "stop" commands (to exercise stop timeouts)
#   ignore-signals          ignore SIGTERM and SIGINT from now on
#
# Usage: game.sh [START_DELAY]; the delay (seconds, default $START_DELAY or 0.2) is the
# time between "Server starting..." and "Server started".
delay=${1:-${START_DELAY:-0.2}}
ignore_stop=0
cr=$(printf '\r')

on_signal() {
    echo "Caught $1, exiting"
    exit 0
}
trap 'on_signal SIGTERM' TERM
trap 'on_signal SIGINT' INT

echo "Server starting..."
sleep "$delay"
echo "Server started"

while :; do
    if ! IFS= read -r line; then
        # stdin closed: a real game keeps running, and so does this one
        echo "Console input closed"
        while :; do sleep 1; done
    fi
    line=${line%"$cr"}
    set -f
    # shellcheck disable=SC2086 # split the line into words on purpose
    set -- $line
    set +f
    command=${1:-}
    [ $# -gt 0 ] && shift
    case "$command" in
        "") ;;
        stop)
            if [ "$ignore_stop" = 1 ]; then echo "Ignoring stop"; else echo "Stopping"; exit 0; fi ;;
        echo) echo "$*" ;;
        flood)
            i=0
            while [ "$i" -lt "${1:-0}" ]; do echo "flood line $i"; i=$((i + 1)); done ;;
        tick)
            i=0
            while [ "$i" -lt "${1:-0}" ]; do echo "tick $i"; usleep "${2:-1000}"; i=$((i + 1)); done ;;
        stamp)
            i=0
            t=$EPOCHREALTIME
            next=${t%.*}${t#*.}
            while [ "$i" -lt "${1:-0}" ]; do
                t=$EPOCHREALTIME
                echo "stamp $i $t"
                # pace against the clock, not per line, so the rate holds despite the loop's cost
                next=$((next + ${2:-1000}))
                now=${t%.*}${t#*.}
                [ "$next" -gt "$now" ] && usleep $((next - now))
                i=$((i + 1))
            done ;;
        crash) echo "Crashing with code ${1:-1}"; exit "${1:-1}" ;;
        sleep-exit) echo "Exiting in ${1:-1}s"; sleep "${1:-1}"; exit "${2:-0}" ;;
        env)
            case "${1:-}" in
                "" | [0-9]* | *[!A-Za-z0-9_]*) echo "Not a variable name: ${1:-}" ;;
                *) eval "echo \"$1=\${$1-}\"" ;;
            esac ;;
        id) echo "uid=$(id -u) gid=$(id -g)" ;;
        write) file=$1; shift; printf '%s\n' "$*" > "/home/container/$file" && echo "Wrote $file" ;;
        burn) timeout "${1:-1}" sh -c 'while :; do :; done'; echo "Burned" ;;
        ignore-stop) ignore_stop=1; echo "Ignoring stop from now on" ;;
        ignore-signals) trap '' TERM INT; echo "Ignoring signals from now on" ;;
        *) echo "Unknown command: $command" ;;
    esac
done
