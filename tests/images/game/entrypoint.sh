#!/bin/busybox sh
cd /home/container || exit 1
MODIFIED_STARTUP=$(echo "$STARTUP" | sed -e 's/{{/${/g' -e 's/}}/}/g')
echo ":/home/container$ ${MODIFIED_STARTUP}"
eval "exec ${MODIFIED_STARTUP}"
