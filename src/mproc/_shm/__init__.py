"""Shared memory: named segments, the arena heap and the resource tracker.

``tracker`` is the lowest piece: a helper process that removes named semaphores
and shared-memory segments whose creators died without removing them. It knows
resource *types* only by name; the layers above register how each type is cleaned
up (``tracker.register_cleanup``), so nothing here imports them.
"""
