"""The control loops: informers, workqueues and reconcilers, written the controller way.

Handlers only enqueue keys; ``reconcile(key)`` reads the informer cache, writes through
the API server, and returns when to look again. The store's log is the only input.
"""
