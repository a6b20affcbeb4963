"""The local system: the process that hosts every local target (``python -m
chaoskit.providers.local.system``), and the replica process it runs by default
(``system/shop.py``).

Nothing here is imported by the pytest process: it talks to the system over the control port
(``chaoskit.providers.local.control_protocol``). Kept free of imports, because each replica
process imports this package on its way to ``shop``.
"""
