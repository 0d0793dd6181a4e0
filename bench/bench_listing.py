"""Listing benchmark: server time per module listing page over 100,000 catalogued documents.

Catalogues lightweight stand-ins (not stored documents) straight into ``portal_catalog``
of a temporary instance, in one process, then publishes listing pages through the real
WSGI application (traversal, security, catalog query, template) and prints one JSON line
with the median and worst milliseconds per page kind (the worst includes each sort's
first request, which computes its order, and pages right after an edit). Baseline: the
middle page sorted by ZCatalog itself. Goal: every page under 100 ms.

    .venv/bin/python bench/bench_listing.py [--documents 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ADMIN_PASSWORD = "bench-secret"


class Stub:
    """What the catalog reads from a Data Stream, without being one."""

    def __init__(self, portal_path: tuple, number: int, when) -> None:
        self.id = str(number)
        self._path = (*portal_path, "data_stream_module", self.id)
        self.portal_type = "Data Stream"
        self.reference = f"rec-{number:06d}.wav"
        self.title = f"Recording {number} of station {number % 97}"
        self.description = "field recording" if number % 2 else "lab recording"
        self.creation_date = self.modification_date = when
        self.Creator = "zope"
        self.getSize = 44 + number * 7 % 10_000_000
        self.content_type = "audio/wav"
        self.audio_duration = (number % 600) + 0.5
        self.allowedRolesAndUsers = ["Manager", "Author", "Auditor", "Developer", "Owner"]

    def getPhysicalPath(self) -> tuple:
        return self._path

    def getCreationDate(self):
        return self.creation_date

    def getCreationTime(self) -> float:
        return self.creation_date.timeTime()

    def getModificationTime(self) -> float:
        return self.modification_date.timeTime()

    def getModificationDate(self):
        return self.modification_date

    def SearchableText(self) -> str:
        return " ".join((self.id, self.title, self.reference, self.description))


def catalogue(count: int) -> None:
    import transaction
    import Zope2
    from DateTime import DateTime
    from Products.ZCatalog.ZCatalog import ZCatalog

    app = Zope2.app()
    portal = app.erp5
    catalog = portal.portal_catalog
    base = DateTime() - 30
    path = portal.getPhysicalPath()
    for number in range(1, count + 1):
        stub = Stub(path, number, base + number / 86400.0)
        ZCatalog.catalog_object(catalog, stub, uid="/".join(stub.getPhysicalPath()))
        if number % 5000 == 0:
            transaction.savepoint(optimistic=True)
    transaction.commit()
    app._p_jar.close()


def recatalogue(number: int, title: str) -> None:
    """Commit a new title for one stand-in, as an edit would (one index changes)."""
    import transaction
    import Zope2
    from DateTime import DateTime
    from Products.ZCatalog.ZCatalog import ZCatalog

    app = Zope2.app()
    catalog = app.erp5.portal_catalog
    stub = Stub(app.erp5.getPhysicalPath(), number, DateTime())
    stub.title = title
    ZCatalog.catalog_object(catalog, stub, uid="/".join(stub.getPhysicalPath()))
    transaction.commit()
    app._p_jar.close()


def publish(app, path: str, query: str) -> tuple[int, float, bytes]:
    """One GET through the WSGI application; returns (status, seconds, body)."""
    credentials = base64.b64encode(f"zope:{ADMIN_PASSWORD}".encode()).decode()
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
        "HTTP_AUTHORIZATION": f"Basic {credentials}", "HTTP_ACCEPT": "text/html",
    }
    status = []

    def start_response(line, headers, exc_info=None):
        status.append(int(line.split()[0]))

    started = time.perf_counter()
    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):  # as a WSGI server does: ends the request's work
            result.close()
    return status[0], time.perf_counter() - started, body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    from Products.Wendelin.server import make_app, prepare_site, tune_gc, write_config
    from Products.Wendelin.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="wendelin-bench-listing-"))
    settings = Settings.from_environ({
        "WENDELIN_INSTANCE": str(home), "WENDELIN_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "WENDELIN_MEMORY_BUDGET": "1GiB", "WENDELIN_JUPYTER": "0",
    })
    tune_gc()  # as `wendelin run` does
    app = make_app(write_config(settings))
    prepare_site(settings)
    started = time.perf_counter()
    catalogue(args.documents)
    cataloguing = time.perf_counter() - started

    middle = (args.documents // 2 // 50) * 50
    pages = {
        "first_page": "",
        "sorted_by_title": "sort=title&order=ascending",
        "sorted_by_size_desc": "sort=size",
        "middle_page": f"sort=id&order=ascending&start={middle}",
        "last_page": f"sort=reference&order=ascending&start={args.documents - 50}",
        "full_text_search": "q=station+42",
        "reference_prefix": "reference=rec-0009",
    }
    path = "/erp5/data_stream_module/view"
    publish(app, path, "")  # warm the templates and caches once
    result: dict[str, object] = {
        "documents": args.documents,
        "cataloguing_s": round(cataloguing, 1),
        "goal_ms": 100,
    }
    worst = 0.0
    for name, query in pages.items():
        times = []
        for _ in range(args.repeat):
            status, seconds, body = publish(app, path, query)
            if status != 200 or b'<tr data-id="' not in body:
                raise SystemExit(f"{name}: status {status}, no rows")
            times.append(seconds * 1000)
        result[f"{name}_ms"] = round(statistics.median(times), 1)
        worst = max(worst, max(times))
    # A committed edit changes the title index: the next page sorted by title pays for
    # a new order of that index (the other indexes' orders stay valid).
    times = []
    for round_ in range(args.repeat):
        recatalogue(round_ + 1, f"Edited {round_}")
        status, seconds, body = publish(app, path, f"sort=title&order=ascending&start={middle}")
        if status != 200 or b'<tr data-id="' not in body:
            raise SystemExit(f"after_edit: status {status}, no rows")
        times.append(seconds * 1000)
    result["after_edit_sorted_by_title_ms"] = round(statistics.median(times), 1)
    worst = max(worst, max(times))
    result["worst_ms"] = round(worst, 1)

    import Zope2
    from Products.Wendelin.site import sortorder

    # As after a restart: every object a ghost again, no order computed yet (the files
    # themselves stay in the OS page cache).
    Zope2.DB.cacheMinimize()
    sortorder.cache.clear()
    status, seconds, body = publish(app, path, pages["middle_page"])
    result["cold_middle_page_ms"] = round(seconds * 1000, 1)

    # Baseline in the same run: the middle page with ZCatalog sorting the result set.

    lookup, sortorder.cache.lookup = sortorder.cache.lookup, lambda index, build=True: None
    try:
        times = [publish(app, path, pages["middle_page"])[1] * 1000 for _ in range(args.repeat)]
    finally:
        sortorder.cache.lookup = lookup
    result["middle_page_zcatalog_sort_ms"] = round(statistics.median(times), 1)
    result["middle_page_ratio"] = round(
        result["middle_page_ms"] / result["middle_page_zcatalog_sort_ms"], 2
    )
    result["orders_built"] = sortorder.cache.builds
    result["goal_met"] = worst < 100
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
