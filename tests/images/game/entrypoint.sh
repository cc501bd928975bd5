#!/bin/sh
# Behaves like the entrypoint of Pterodactyl's yolks images: run from the server root,
# turn the egg's {{VAR}} placeholders in $STARTUP into shell variables, echo the command
# line the way yolks do, then replace this shell with it.
cd /home/container || exit 1
MODIFIED_STARTUP=$(printf '%s\n' "$STARTUP" | sed -e 's/{{/${/g' -e 's/}}/}/g')
PARSED=$(eval "printf '%s\n' \"$MODIFIED_STARTUP\"")
printf ':/home/container$ %s\n' "$PARSED"
exec /bin/sh -c "$PARSED"
