"""This machine's name, as veolab writes it next to a pid (ledger claims, MLflow runs' tags).

A pid means something only on its own machine: veolab judges a claim or a RUNNING run by its
pid only when the host is this one. Machines that share a host name (containers started with
the same ``--hostname``) set ``VEOLAB_HOSTNAME`` to tell themselves apart.
"""

from __future__ import annotations

import os
import socket

HOST_ENV = "VEOLAB_HOSTNAME"


def host_name() -> str:
    """``VEOLAB_HOSTNAME``, else the machine's host name."""
    return os.environ.get(HOST_ENV) or socket.gethostname()
