"""The permission matrix (``permission_matrix.MATRIX``) checked against the live server.

Every actor sends each row's request with HTTP Basic (anonymous: none); the answer must
be one the row allows, and where a request that writes is refused, nothing changed.
"""

from __future__ import annotations

from typing import Any

import pytest
from permission_matrix import ACTOR_NAMES, MATRIX
from security_conftest import TALLY, describe_change, make_fresh, send, target_names


def _refused_only(statuses: tuple[int, ...]) -> bool:
    return all(status >= 400 for status in statuses)


@pytest.fixture(scope="module")
def portal_title(site) -> str:
    """The portal's current title (the allowed manage_changeProperties keeps it)."""
    return site.run("print(context.getPortalObject().title)").strip()


@pytest.mark.parametrize("spec", MATRIX, ids=[f"{r['name']}" for r in MATRIX])
def test_matrix_row(site, targets, portal_title: str, spec: dict[str, Any]) -> None:
    """Each actor gets one of the row's answers; a refused write leaves everything as it was."""
    problems: list[str] = []
    for actor in ACTOR_NAMES:
        allowed = spec["expected"][actor]
        fresh = make_fresh(site, spec.get("fresh"))
        names = {**target_names(site, targets, fresh), "portal_title": portal_title}
        check_state = spec["writes"] and _refused_only(allowed)
        before = site.snapshot() if check_state else None
        answer = send(site, site.basic(actor), spec, names)
        status = answer.status_code
        where = f"{actor}: {spec['method']} {answer.url}"
        if status not in allowed:
            problems.append(f"{where} answered {status}, expected {allowed}: "
                            f"{answer.text[:160]!r}")
            if _refused_only(allowed) and status < 400:
                TALLY.note("forged_accepted" if spec["writes"] else "leaks",
                           f"matrix {where} -> {status}")
        if check_state:
            after = site.snapshot()
            if after != before:
                change = describe_change(before, after)
                problems.append(f"{where} ({status}) changed data: {change}")
                if status >= 400:
                    TALLY.note("partial_writes", f"matrix {where} -> {status}: {change}")
                elif status in allowed:
                    TALLY.note("forged_accepted", f"matrix {where} -> {status}: {change}")
    assert not problems, "\n".join(problems)


def test_propfind_shows_nothing_to_users_without_the_manager_role(site, targets) -> None:
    """A refused PROPFIND carries no title or content type of any document."""
    leaked = []
    for actor in ("anonymous", "nobody", "auditor", "author", "developer"):
        answer = site.request(site.basic(actor), "PROPFIND", f"{site.url}/data_stream_module/",
                              headers={"Depth": "1"})
        if "sec stream" in answer.text or "octet-stream" in answer.text or "getcontenttype" \
                in answer.text:
            leaked.append(f"{actor}: PROPFIND {answer.status_code}")
            TALLY.note("leaks", f"PROPFIND data_stream_module/ by {actor}")
    assert not leaked, leaked
