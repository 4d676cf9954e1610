"""Managers: a server process owning shared objects, and proxies to reach them.

``protocol`` (messages, serializers, RemoteError), ``server`` (the server and the
manager process body), ``proxies`` (BaseProxy, AutoProxy, MakeProxyType),
``builtin`` (SyncManager's shared types and proxies), ``manager`` (BaseManager,
SyncManager).
"""
