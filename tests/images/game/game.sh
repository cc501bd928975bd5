#!/bin/busybox sh
echo "Server starting..."
sleep ${START_DELAY:-0.2}
echo "Server started"
trap 'echo "Caught signal, exiting"; exit 0' TERM INT
while read -r line; do
  set -- $line
  case "$1" in
    stop) echo "Stopping"; exit 0;;
    echo) shift; echo "$*";;
    flood) i=0; while [ $i -lt "$2" ]; do echo "flood line $i"; i=$((i+1)); done;;
    crash) echo "Crashing"; exit "${2:-1}";;
    *) echo "Unknown command: $1";;
  esac
done
