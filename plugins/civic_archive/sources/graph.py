"""What the Facebook and Instagram connectors share: both speak the Graph API's error language
(shared/reference/platform-apis.md §1.5, §2.3). Connectors key off `error.code`, never the HTTP status."""
from __future__ import annotations

THROTTLE_CODES = frozenset({4, 17, 32, 613, 80001, 80002})  # app, user, page, call-rate and BUC limits
TRANSIENT_CODES = frozenset({1, 2}) | THROTTLE_CODES  # unknown/service errors: retry with backoff
TOKEN_CODES = frozenset({190, 102})  # invalid or expired access token / session
DELETED_CODE = 100  # with subcode 33: "Object with ID … does not exist"
