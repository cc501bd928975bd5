#!/bin/sh
# Exit non-zero as root, else hand over to the yolks-like entrypoint of the game image.
if [ "$(id -u)" = 0 ]; then
    echo "Refusing to start: you're trying to run me as superuser!"
    exit 1
fi
exec /bin/sh /entrypoint.sh
