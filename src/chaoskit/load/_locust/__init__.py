"""The locust side of the load: what runs in the coordinator and worker processes.

``coordinator`` (a locust master) and ``worker`` (a locust worker) are the two process
entry points, started by ``chaoskit.load.driver`` as ``python -m
chaoskit.load._locust.coordinator`` and ``python -m chaoskit.load._locust.worker`` (and by
``chaoskit worker`` on other machines). Modules here may import locust and gevent, which
gevent-patches the process that imports them: the pytest process never imports this
package's process modules. They talk to the pytest side only through
``chaoskit.load._wire``.

This ``__init__`` imports nothing, so that the pure parts (``recorder``, ``lag``) can be
unit tested in the pytest process.
"""
