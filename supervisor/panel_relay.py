"""The workers' Panel calls, made here with the supervisor's one Panel client.

A worker asks over the bus (``panel.*`` in ``wingspan.commands``) instead of holding an
HTTP client of its own: the node then keeps one pool of keep-alive (and TLS) connections
to the Panel rather than one per server, and a worker never loads the HTTP stack's objects
into its own memory. Failures travel back as the ``PanelError`` they are.
"""

from wingspan import commands


def register(registry, panel):
    """Serve the ``panel.*`` commands on ``registry``; ``panel()`` is the current client
    (it is replaced when the config is reloaded)."""
    handlers = {
        commands.PANEL_SERVER: lambda a: panel().get_server(a["uuid"]),
        commands.PANEL_INSTALL_SCRIPT: lambda a: panel().get_install_script(a["uuid"]),
        commands.PANEL_INSTALL_STATUS: lambda a: panel().set_install_status(
            a["uuid"], a["successful"], a["reinstall"]),
        commands.PANEL_TRANSFER_STATUS: lambda a: panel().set_transfer_status(
            a["uuid"], a["successful"]),
        commands.PANEL_BACKUP_PARTS: lambda a: panel().get_backup_upload_parts(
            a["backup_uuid"], a["size"]),
        commands.PANEL_BACKUP_STATUS: lambda a: panel().set_backup_status(
            a["backup_uuid"], a["body"]),
        commands.PANEL_RESTORE_STATUS: lambda a: panel().set_restore_status(
            a["backup_uuid"], a["successful"]),
    }
    for command, handler in handlers.items():
        registry.register(command)(handler)
