"""Case operations: what the use cases in ``services`` run inside one unit of work.

Each operation reads and changes rows through ``storage`` and returns ``domain.effects`` for the
use case to carry out (``effects.apply_effects``) in the same transaction. Nothing here opens or
commits a transaction, and nothing here imports ``services``. The inbound route table
(``routes``) is the top of the package: it names, in order, who handles each received message.
"""
