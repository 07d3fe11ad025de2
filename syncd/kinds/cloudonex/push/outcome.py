"""What a CloudOnex write answer says about each document (pure).

A 2xx is done (a create's ``data.id`` is the created id; without one, the record is looked
for at the source). A 400 names fields in ``errors``: the document is rejected with the
messages and the first field as its category. A ``/batch/customers`` answer keys its errors
``customers.N.field``: document N is at fault, the others were not created and go again.
The server's words reach the outbox ``error`` only scrubbed of credentials and capped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from syncd.core.outcomes import Outcome
from syncd.credentials.redaction import said
from syncd.kinds.cloudonex.client import Written

NOT_FOUND = "Record not found"
ERROR_CHARS = 1000  # of a document's joined messages kept in the outbox error (each <= 300)
CATEGORY_CHARS = 100
_BATCH_KEY = re.compile(r"^customers\.(\d+)\.(.+)$")


def created_id(data: object) -> str | None:
    """The id a create answer gives its record (``data.id``), as text."""
    rid = data.get("id") if isinstance(data, Mapping) else None
    if isinstance(rid, bool) or not isinstance(rid, int | str) or str(rid).strip() == "":
        return None
    return str(rid).strip()


def single(operation: str, written: Written, uncertain: bool) -> Outcome:
    """The outcome of one document's own request (``uncertain``: an earlier try may have
    done it already)."""
    if 200 <= written.status < 300:
        if operation != "create":
            return Outcome("inserted")
        rid = created_id(written.data)
        return Outcome("inserted", created_id=rid) if rid else Outcome("sending")
    if written.status == 404 and operation == "delete" and uncertain:
        return Outcome("inserted", "counted as deleted: the record was gone after an "
                       "earlier request of syncd got no answer", "target_id")
    if written.status == 404:
        return Outcome("rejected", said(written.message) or NOT_FOUND, "target_id")
    return rejected(written.errors, written.message)


def rejected(errors: Mapping[str, str], message: str | None) -> Outcome:
    """Rejected with the API's messages; the category is the first field named."""
    if not errors:
        return Outcome("rejected", said(message) or "the API rejected the document without "
                       "a reason", "request")
    messages = [m for m in dict.fromkeys(said(v) for v in errors.values()) if m]
    return Outcome("rejected", said("; ".join(messages), ERROR_CHARS),
                   said(next(iter(errors)), CATEGORY_CHARS))


def batch(written: Written, size: int) -> tuple[list[Outcome], bool]:
    """Per document of a customer batch, and whether the blame could be placed."""
    if 200 <= written.status < 300:
        data = written.data
        ids = [created_id(r) for r in data] if isinstance(data, list) else []
        if len(ids) == size and all(ids):
            return [Outcome("inserted", created_id=i) for i in ids], True
        return [Outcome("sending")] * size, True  # done, ids unknown: looked up next round
    blamed: dict[int, dict[str, str]] = {}
    for key, message in written.errors.items():
        m = _BATCH_KEY.match(key)
        if m and int(m[1]) < size:
            blamed.setdefault(int(m[1]), {})[m[2]] = message
    if not blamed:
        return [Outcome("pending")] * size, False
    return [rejected(blamed[n], written.message) if n in blamed else Outcome("pending")
            for n in range(size)], True
