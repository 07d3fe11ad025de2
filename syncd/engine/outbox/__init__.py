"""Write-back (CONTRACT §8): the kind-neutral outbox machinery.

    writer     what the engine asks of a kind's writer (validate, batch, look up, send)
    pusher     the state machine pending -> sending -> inserted | rejected | invalid
    jsontext   JSON text with exact Decimals (money never passes through float)

The table's SQL lives in ``syncd.warehouse.outbox``; what a document looks like, how it is
checked and sent is the kind's (``syncd.kinds.<kind>.push``), named by the registry's
``writer_path``.
"""
