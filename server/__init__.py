"""The threaded Chinwag server: sockets and threads around `protocol`."""

from __future__ import annotations

from server.config import ServerConfig
from server.listener import ChatServer

__all__ = ["ChatServer", "ServerConfig"]
