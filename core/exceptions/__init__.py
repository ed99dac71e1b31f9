"""The exception queue: cases (shortage, credit hold, price deviation, late supplier, overdue approval, overdue
receivables put on hold) with an owner routed by rules, an SLA, suggestions and a timeline."""

from core.exceptions.detection import dedup_key, detect_exceptions
from core.exceptions.models import CaseEvent, CaseStatus, EventKind, ExceptionCase, ExceptionType, Severity
from core.exceptions.routing import (
    DEFAULT_ROUTING_FILE,
    ROUTING_FILE_ENV,
    RoutingFileError,
    RoutingRule,
    RoutingRules,
    check_routing,
    load_routing,
    parse_routing,
)
from core.exceptions.service import (
    assign_case,
    assignable_people,
    comment_case,
    find_case,
    get_case,
    may_handle,
    page_cases,
    raise_case,
    reopen_case,
    resolve_case,
    settle_caused_case,
)
from core.exceptions.suggestions import shortage_suggestions

__all__ = [
    "DEFAULT_ROUTING_FILE",
    "ROUTING_FILE_ENV",
    "CaseEvent",
    "CaseStatus",
    "EventKind",
    "ExceptionCase",
    "ExceptionType",
    "RoutingFileError",
    "RoutingRule",
    "RoutingRules",
    "Severity",
    "assign_case",
    "assignable_people",
    "check_routing",
    "comment_case",
    "dedup_key",
    "detect_exceptions",
    "find_case",
    "get_case",
    "load_routing",
    "may_handle",
    "page_cases",
    "parse_routing",
    "raise_case",
    "reopen_case",
    "resolve_case",
    "settle_caused_case",
    "shortage_suggestions",
]
