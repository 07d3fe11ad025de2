"""What a create answer says about each document of its request (pure).

The docs show ``fail_details`` categories as lists of messages, of objects or as objects
keyed by Doc1No; every shape is read, and a document is *at fault* when any category names
it. Sales and purchase batches insert the valid documents; a customer batch is all or
nothing, so its documents that nobody blamed are innocent and go back to ``pending``.
The server's words reach the outbox ``error`` only scrubbed of credentials and capped
(``words``): a server that echoes the request leaks nothing into the warehouse.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from syncd.core.outcomes import Outcome
from syncd.credentials.redaction import said

ERROR_CHARS = 1000  # of a document's joined messages kept in the outbox error (each <= 300)
CATEGORY_CHARS = 100

ALREADY_EXISTS = ("document already exists", "customer code already exists")
NAMED = re.compile(r"\((?:Doc1No|CusCode): ([^)]*)\)")
_NAME_KEYS = ("Doc1No", "doc1no", "CusCode", "cuscode", "document", "code")
_DEFAULT_WORDS = {"duplicate_documents": "Document already exists",
                  "duplicate_customers": "Customer code already exists"}


def interpret(module: str, data: Mapping[str, Any], names: Sequence[str],
              uncertain: Sequence[bool]) -> list[Outcome]:
    """One Outcome per document, in request order; ``uncertain`` marks documents an earlier
    request may already have created (that request got no answer)."""
    succeeded = {str(x) for x in _list(data.get("successful_documents"))}
    failed = {str(x) for x in _list(data.get("failed_documents"))}
    blame = _blame(data.get("fail_details"), set(names))
    # Innocence needs a culprit: a rejected batch that blames nobody must not loop forever.
    culprit = any(n in blame and n not in succeeded for n in names)
    out = []
    for name, maybe_there in zip(names, uncertain, strict=True):
        reasons = blame.get(name, [])
        if name in succeeded:
            out.append(Outcome("inserted"))
        elif reasons and maybe_there and all(_exists(m) for _, m in reasons):
            out.append(Outcome("inserted", "counted as inserted: the API said it already "
                               "exists after an earlier request of syncd got no answer",
                               reasons[0][0]))
        elif reasons:
            out.append(_rejected(reasons))
        elif module == "customer" and failed and culprit:
            out.append(Outcome("pending"))  # the batch fell for another document's fault
        elif name in failed:
            out.append(Outcome("rejected", "the API reported the document as failed without "
                               "a reason", "unknown"))
        else:
            out.append(Outcome("sending"))  # the answer does not mention it: ask again later
    return out


def _rejected(reasons: list[tuple[str, str]]) -> Outcome:
    """Rejected with every distinct message; the category is the first specific one."""
    messages = list(dict.fromkeys(said(m) for _, m in reasons))
    categories = [c for c, _ in reasons if c != "validation_errors"] or [reasons[0][0]]
    return Outcome("rejected", words("; ".join(m for m in messages if m)),
                   said(categories[0], CATEGORY_CHARS))


def words(text: str) -> str:
    """A server's message as the outbox ``error`` keeps it: scrubbed, printable, capped."""
    return said(text, ERROR_CHARS) or ""


def _exists(message: str) -> bool:
    return any(words in message.lower() for words in ALREADY_EXISTS)


def _blame(details: Any, names: set[str]) -> dict[str, list[tuple[str, str]]]:
    """name -> [(category, message)] from every fail_details category."""
    out: dict[str, list[tuple[str, str]]] = {}
    if not isinstance(details, Mapping):
        return out
    for category, value in details.items():
        for name, message in _entries(str(category), value, names):
            out.setdefault(name, []).append((str(category), message))
    # validation_errors repeats what the categories said: keep it only where it adds words.
    for name, pairs in out.items():
        specific = {m for c, m in pairs if c != "validation_errors"}
        out[name] = [(c, m) for c, m in pairs
                     if c != "validation_errors" or not any(m in s for s in specific)]
    return out


def _entries(category: str, value: Any, names: set[str]) -> Iterator[tuple[str, str]]:
    default = _DEFAULT_WORDS.get(category, category.replace("_", " "))
    if isinstance(value, Mapping):  # {Doc1No: [messages]} or {Doc1No: message}
        for name, messages in value.items():
            for m in _list(messages) or [default]:
                yield str(name), str(m)
        return
    for entry in _list(value):
        if isinstance(entry, Mapping):
            name = next((str(entry[k]) for k in _NAME_KEYS if k in entry), None)
            message = entry.get("error") or entry.get("message") or default
            if name is not None:
                yield name, str(message)
        elif isinstance(entry, str | int):
            text = str(entry)
            named = NAMED.search(text)
            if named:
                yield named.group(1), text
            elif text in names:
                yield text, default


def _list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, str | int) and value != "" else []
