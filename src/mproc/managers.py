"""Managers and proxies (stdlib ``multiprocessing.managers``)."""

from . import (  # the stdlib's package has these after this import
    connection,
    pool,
    resource_tracker,
    shared_memory,
    spawn,
    util,
)
from ._managers.builtin import (
    AcquirerProxy,
    Array,
    ArrayProxy,
    BarrierProxy,
    BaseListProxy,
    BasePoolProxy,
    ConditionProxy,
    DictProxy,
    EventProxy,
    IteratorProxy,
    ListProxy,
    Namespace,
    NamespaceProxy,
    PoolProxy,
    SetProxy,
    Value,
    ValueProxy,
)
from ._managers.manager import BaseManager, State, SyncManager
from ._managers.protocol import RemoteError, Token, convert_to_error, dispatch, listener_client
from ._managers.proxies import AutoProxy, BaseProxy, MakeProxyType, RebuildProxy
from ._managers.server import Server, public_methods
from ._managers.sharedmem import SharedMemoryManager, SharedMemoryServer

__all__ = ["BaseManager", "SyncManager", "BaseProxy", "Token", "SharedMemoryManager"]
