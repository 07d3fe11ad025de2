"""Write-back (CONTRACT §8): documents in ``syncd.outbox`` created at the API.

    validation   the documentation's rules, pure and exact (Decimal)
    batches      at most 500 documents per request, never one Doc1No twice in a request
    outcome      what a create answer says about each document
    outbox       the table: claim, mark, record (the only SQL of this package)
    sender       the state machine pending -> sending -> inserted | rejected | invalid
"""
