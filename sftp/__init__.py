"""The SFTP server: an SSH server of its own process, started by the supervisor.

Modules: ``server`` (the process: listener, bus, lifeline), ``hostkey`` (the node's ED25519
key), ``login`` (the SSH side of a connection: Panel logins, the cooldown of failed ones,
channel and connection limits), ``throttle`` (the cooldown's bookkeeping), ``registry``
(the servers as the bus reports them, their quotas and the live logins), ``handler`` (the
SFTP operations, through ``wingspan.filesystem``'s jail).

wings-behaviour.md §12, wings-api.md §14 and §16 (deauthorize-user).
"""
