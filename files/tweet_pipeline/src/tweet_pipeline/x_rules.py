"""Filtered-stream rules as X API v2 keeps and reports them (for the X API double).

Response shapes follow recorded X payloads (tests/payloads/rules_*.json):

* ``GET /2/tweets/search/stream/rules``: ``{"data": [{"id", "value", "tag"}], "meta": {"sent",
  "result_count"}}`` (no ``data`` when there are no rules);
* ``POST`` ``{"add": [{"value", "tag"}]}``: ``{"data": [created], "meta": {"sent", "summary":
  {"created", "not_created", "valid", "invalid"}}}`` plus ``errors`` for duplicates/invalid;
* ``POST`` ``{"delete": {"ids": [...]}}``: ``{"meta": {"sent", "summary": {"deleted",
  "not_deleted"}}}`` plus ``errors`` for unknown ids;
* ``?dry_run=true`` validates without changing anything.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from typing import Any

INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"
DUPLICATE_RULES = "https://api.twitter.com/2/problems/duplicate-rules"
MAX_RULE_LENGTH = 1024


class RuleRequestError(ValueError):
    """The request body is not a valid rules request (HTTP 400)."""


def sent() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def invalid_request(message: str) -> dict[str, Any]:
    return {
        "errors": [{"message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": INVALID_REQUEST,
    }


def _rule(rule_id: str, value: str, tag: str | None) -> dict[str, str]:
    out = {"id": rule_id, "value": value}
    if tag is not None:
        out["tag"] = tag
    return out


class RuleStore:
    def __init__(self, rules: list[dict[str, Any]] | None = None) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1_861_000_000_000_000_200)
        self._rules: list[dict[str, str]] = []
        for rule in rules or []:
            rule_id = str(rule.get("id") or next(self._ids))
            self._rules.append(_rule(rule_id, str(rule["value"]), rule.get("tag")))
        self.added = 0
        self.deleted = 0

    def rules(self) -> list[dict[str, str]]:
        with self._lock:
            return [dict(r) for r in self._rules]

    def matching_rules(self) -> list[dict[str, str]]:
        """What a streamed tweet reports: every rule currently set, as ``{"id", "tag"}``."""
        return [{k: v for k, v in r.items() if k != "value"} for r in self.rules()]

    def get(self, ids: list[str] | None = None) -> dict[str, Any]:
        rules = [r for r in self.rules() if ids is None or r["id"] in ids]
        body: dict[str, Any] = {"meta": {"sent": sent(), "result_count": len(rules)}}
        if rules:
            body["data"] = rules
        return body

    def post(self, request: Any, dry_run: bool = False) -> dict[str, Any]:
        if not isinstance(request, dict) or len(request) != 1:
            raise RuleRequestError("the body must be one of {add: [...]} or {delete: {ids: [...]}}")
        if "add" in request:
            return self._add(request["add"], dry_run)
        if "delete" in request:
            return self._delete(request["delete"], dry_run)
        raise RuleRequestError(f"unknown operation {next(iter(request))!r}")

    def _add(self, add: Any, dry_run: bool) -> dict[str, Any]:
        if not isinstance(add, list) or not all(isinstance(r, dict) for r in add):
            raise RuleRequestError("add must be a list of {value, tag} objects")
        created: list[dict[str, str]] = []
        errors: list[dict[str, Any]] = []
        invalid = 0
        with self._lock:
            for rule in add:
                value, tag = rule.get("value"), rule.get("tag")
                if not isinstance(value, str) or not value.strip() or len(value) > MAX_RULE_LENGTH:
                    invalid += 1
                    errors.append(
                        {
                            "value": value,
                            "details": ["Rule value must be a non-empty string"],
                            "title": "UnprocessableEntity",
                            "type": INVALID_REQUEST,
                        }
                    )
                    continue
                known = next((r for r in [*self._rules, *created] if r["value"] == value), None)
                if known is not None:
                    errors.append(
                        {
                            "value": value,
                            "id": known["id"],
                            "title": "DuplicateRule",
                            "type": DUPLICATE_RULES,
                        }
                    )
                    continue
                created.append(_rule(str(next(self._ids)), value, tag))
            if not dry_run:
                self._rules.extend(created)
                self.added += len(created)
        body: dict[str, Any] = {
            "meta": {
                "sent": sent(),
                "summary": {
                    "created": len(created),
                    "not_created": len(add) - len(created),
                    "valid": len(add) - invalid,
                    "invalid": invalid,
                },
            }
        }
        if created:
            body["data"] = created
        if errors:
            body["errors"] = errors
        return body

    def _delete(self, delete: Any, dry_run: bool) -> dict[str, Any]:
        ids = delete.get("ids") if isinstance(delete, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise RuleRequestError("delete must be {ids: [string, ...]}")
        with self._lock:
            known = {r["id"] for r in self._rules}
            found = [i for i in ids if i in known]
            if not dry_run:
                self._rules = [r for r in self._rules if r["id"] not in found]
                self.deleted += len(found)
        body: dict[str, Any] = {
            "meta": {
                "sent": sent(),
                "summary": {"deleted": len(found), "not_deleted": len(ids) - len(found)},
            }
        }
        missing = [i for i in ids if i not in found]
        if missing:
            body["errors"] = [
                {
                    "value": i,
                    "details": ["Rule does not exist"],
                    "title": "Invalid Request",
                    "type": INVALID_REQUEST,
                }
                for i in missing
            ]
        return body
