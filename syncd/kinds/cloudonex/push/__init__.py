"""CloudOnex write-back (CONTRACT §8.1): its documents, their rules, requests and answers.

    rules      the documents' own rules, pure and exact (Decimal), in the API's words
    matching   which fields say a record at the source is a document syncd sent (pure)
    outcome    what a write answer says about each document (pure)
    writer     the kind's writer for the shared outbox machinery (syncd.engine.outbox)
"""
