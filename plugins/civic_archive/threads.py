"""Whole threads: the conversation an item is part of, for requests and holds that ask for it.

A thread is the topmost item reached by following parents up from an item (its post or video, or the
highest ancestor the archive holds), and everything under that item: the comments, their replies, and the
photos and videos attached to any of them. Parents are followed through the records' `parent_platform_id`
in every month of the account, so a comment written weeks after its post belongs to the post's thread. A
records request for posts about the pool then brings the residents' comments under those posts, which do
not name the pool themselves.
"""
from __future__ import annotations


def closure(seeds: str, rows: str) -> str:
    """SQL common table expressions, for a `WITH RECURSIVE` list, that end in `thread(account_id,
    platform_id)`: every item of the threads of the items in the relation `seeds` (columns account_id,
    platform_id), among the record rows `rows`. UNION (not UNION ALL) makes each step add only new items, so
    the walk ends even if parents were to form a loop."""
    return f"""
        links AS (SELECT DISTINCT account_id, platform_id, parent_platform_id AS parent FROM {rows}),
        up(account_id, platform_id, parent) AS (
            SELECT l.account_id, l.platform_id, l.parent FROM links l
              SEMI JOIN {seeds} s ON l.account_id = s.account_id AND l.platform_id = s.platform_id
            UNION
            SELECT l.account_id, l.platform_id, l.parent FROM links l
              JOIN up u ON l.account_id = u.account_id AND l.platform_id = u.parent),
        tops AS (SELECT u.account_id, u.platform_id FROM up u WHERE NOT EXISTS (
                   SELECT 1 FROM links l WHERE l.account_id = u.account_id AND l.platform_id = u.parent)),
        thread(account_id, platform_id) AS (
            SELECT account_id, platform_id FROM tops
            UNION  -- the items themselves, even in a loop of parents that has no top
            SELECT account_id, platform_id FROM {seeds}
            UNION
            SELECT l.account_id, l.platform_id FROM links l
              JOIN thread t ON l.account_id = t.account_id AND l.parent = t.platform_id)"""
