"""Managers and proxies (stdlib ``multiprocessing.managers``)."""

from . import (  # the stdlib's package has these after this import
    connection,
    pool,
    resource_tracker,
    shared_memory,
    spawn,
    util,
)
from ._managers.builtin import AcquirerProxy as AcquirerProxy
from ._managers.builtin import (
    Array,
    BaseListProxy,
    BasePoolProxy,
    Value,
)
from ._managers.builtin import ArrayProxy as ArrayProxy
from ._managers.builtin import BarrierProxy as BarrierProxy
from ._managers.builtin import ConditionProxy as ConditionProxy
from ._managers.builtin import DictProxy as DictProxy
from ._managers.builtin import EventProxy as EventProxy
from ._managers.builtin import IteratorProxy as IteratorProxy
from ._managers.builtin import ListProxy as ListProxy
from ._managers.builtin import Namespace as Namespace
from ._managers.builtin import NamespaceProxy as NamespaceProxy
from ._managers.builtin import PoolProxy as PoolProxy
from ._managers.builtin import SetProxy as SetProxy
from ._managers.builtin import ValueProxy as ValueProxy
from ._managers.manager import BaseManager, State, SyncManager
from ._managers.protocol import RemoteError, Token, convert_to_error, dispatch, listener_client
from ._managers.proxies import AutoProxy, BaseProxy, MakeProxyType, RebuildProxy
from ._managers.server import Server, public_methods
from ._managers.sharedmem import SharedMemoryManager, SharedMemoryServer

__all__ = ["BaseManager", "SyncManager", "BaseProxy", "Token", "SharedMemoryManager"]
