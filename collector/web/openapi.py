"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""
from __future__ import annotations

from ..reports.report import DIMENSIONS

_STR = {"type": "string"}
_FILTERS = [
    {"name": "province", "in": "query", "schema": _STR, "description": "only this province (within the scope)"},
    {"name": "commune", "in": "query", "schema": _STR, "description": "only this commune (within the scope)"},
    {"name": "centre", "in": "query", "schema": _STR, "description": "only this centre (within the scope)"},
    {"name": "site", "in": "query", "schema": _STR, "description": "only this stored site slug"},
    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"}},
]
_PERIOD = [
    {"name": "period", "in": "query", "schema": _STR,
     "description": "a month (2026-10), a quarter (2026-Q4) or a year (2026), local time; default this month"},
    {"name": "since", "in": "query", "schema": {"type": "string", "format": "date"}, "description": "first day"},
    {"name": "until", "in": "query", "schema": {"type": "string", "format": "date"}, "description": "last day"},
]
_ROW = {"type": "object", "description": "an officer below evaluation.min_ratings ratings (hidden: true) has one row "
                                         "with its count only: satisfied, satisfied_rate, mean_score null, levels empty",
        "properties": {
    "keys": {"type": "array", "items": _STR}, "group": _STR, "name": _STR, "count": {"type": "integer"},
    "satisfied": {"type": ["integer", "null"]}, "satisfied_rate": {"type": ["number", "null"]},
    "mean_score": {"type": ["number", "null"]}, "flagged": {"type": "integer"},
    "time_unverified": {"type": "integer"}, "hidden": {"type": "boolean"},
    "levels": {"type": "object", "additionalProperties": {"type": "integer"}}}}

_INT, _NUM_OR_NULL = {"type": "integer"}, {"type": ["number", "null"]}
_OFFICER = {"type": "object", "description": "below min_ratings ratings (hidden: true) the rate, grade, rank and "
                                             "reasons are null or empty; grade is null below grade_min_ratings",
            "properties": {
    "centre": _STR, "centre_name": _STR, "officer": _STR, "name": _STR, "ratings": _INT, "hidden": {"type": "boolean"},
    "satisfied_rate": _NUM_OR_NULL, "grade": {"type": ["string", "null"]}, "rank": {"type": ["integer", "null"]},
    "hours": {"type": "number"}, "ratings_per_hour": _NUM_OR_NULL, "requests_answered": _INT,
    "requests_expired": _INT,
    "reasons": {"type": "array", "items": {"type": "object", "properties": {
        "reason": _STR, "name": _STR, "count": _INT}}}}}
_QUALITY = {"type": "object", "properties": {
    "centre": _STR, "centre_name": _STR, "ratings": _INT, "no_officer": _INT, "no_officer_share": _NUM_OR_NULL}}


def _answers(schema: dict) -> dict:
    return {
        "200": {"description": "the figures, within the caller's scope",
                "content": {"application/json": {"schema": schema}, "text/csv": {"schema": _STR}}},
        "400": {"description": "a parameter that cannot be read"},
        "401": {"description": "no token, or a revoked or unknown one"},
        "403": {"description": "a filter outside the caller's scope"},
        "429": {"description": "this token's request budget is spent; see Retry-After"},
    }


def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hài lòng read-only API", "version": "1.0.0",
                 "description": "Citizen satisfaction figures, kiosk health and alerts, limited to the scope "
                                "of the token (or signed-in account) that asks."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                        "description": "a token created on the admin page"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/summary": {"get": {
                "summary": "Satisfaction figures grouped by up to three report dimensions",
                "operationId": "summary",
                "parameters": [{"name": "by", "in": "query", "schema": _STR,
                                "description": "comma-separated, from: " + ", ".join(DIMENSIONS)},
                               *_PERIOD, *_FILTERS,
                               {"name": "device", "in": "query", "schema": _STR, "description": "SITE/DEVICE"},
                               {"name": "officer", "in": "query", "schema": _STR},
                               {"name": "service", "in": "query", "schema": _STR},
                               {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["vi", "en"]}}],
                "responses": _answers({"type": "object", "properties": {
                    "period": {"type": "object"}, "by": {"type": "array", "items": _STR}, "scope": _STR,
                    "rows": {"type": "array", "items": _ROW},
                    "speaking_mode": {"type": "integer", "description": "ratings made in the kiosk's speaking mode"}}})}},
            "/api/v1/officers": {"get": {
                "summary": "Per officer: ratings, satisfied rate, reasons, hours on duty, ratings per hour, "
                           "requests answered and expired, rank within the centre, grade; per centre the "
                           "ratings that name no officer",
                "operationId": "officers",
                "parameters": [*_PERIOD, *_FILTERS,
                               {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["vi", "en"]}}],
                "responses": _answers({"type": "object", "properties": {
                    "period": {"type": "object"}, "scope": _STR, "min_ratings": {"type": "integer"},
                    "grade_min_ratings": {"type": "integer"},
                    "grades": {"type": "array", "items": {"type": "object", "properties": {
                        "name": _STR, "min_satisfied": {"type": "number"}}}},
                    "officers": {"type": "array", "items": _OFFICER},
                    "quality": {"type": "array", "items": _QUALITY}}})}},
            "/api/v1/devices": {"get": {
                "summary": "Last known state of every kiosk, with the share of its messages received", "operationId": "devices", "parameters": _FILTERS,
                "description": "config_hash is the config the kiosk runs, desired_config_hash the one the fleet pushed "
                               "(null: none pushed), config_current whether they match, config_refused the latest "
                               "refused config and why (null: none since the last applied one), takes_pushes whether the kiosk takes "
                               "pushed configs (false: it has no fleet.public_key; null: it does not say)",
                "responses": _answers({"type": "object", "properties": {
                    "scope": _STR, "devices": {"type": "array", "items": {"type": "object"}}}})}},
            "/api/v1/alerts": {"get": {
                "summary": "Centres and counters below the satisfaction threshold, silent kiosks, missing messages, "
                           "pushed alerts",
                "operationId": "alerts", "parameters": _FILTERS,
                "responses": _answers({"type": "object", "properties": {
                    "scope": _STR, "alerts": {"type": "array", "items": {"type": "object"}}}})}},
            "/api/v1/followup": {"get": {
                "summary": "Answers citizens gave on their phone after the thank-you QR: the five SIPAS elements' "
                           "means and one line per answer with its rating's face, counter, officer and service",
                "operationId": "followup", "parameters": [*_PERIOD, *_FILTERS],
                "description": "contact is null unless the caller is an admin account signed in to the dashboard "
                               "(API tokens never get it); truncated is true past 2,000 answers",
                "responses": _answers({"type": "object", "properties": {
                    "period": {"type": "object"}, "scope": _STR, "contact_included": {"type": "boolean"},
                    "truncated": {"type": "boolean"},
                    "means": {"type": "array", "items": {"type": "object", "properties": {
                        "element": _STR, "mean": _NUM_OR_NULL, "answers": _INT}}},
                    "answers": {"type": "array", "items": {"type": "object"}}}})}},
            "/api/v1/openapi.json": {"get": {
                "summary": "This description", "operationId": "openapi", "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1 document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
    }
