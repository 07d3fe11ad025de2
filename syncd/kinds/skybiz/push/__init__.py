"""SKYBIZ write-back (CONTRACT §8): what its documents look like, how they are checked and sent.

    validation   the documentation's rules, pure and exact (Decimal)
    batches      at most 500 documents per request, never one Doc1No twice in a request
    outcome      what a create answer says about each document
    writer       the kind's writer for the shared outbox machinery (syncd.engine.outbox)
    encoding     the shared exact JSON codec, re-exported
"""
