"""POST .../portal_ingestion_policies/<policy>/ingest on the real embedded server.

The shipped ``default`` policy stores fluentd's msgpack byte for byte (refusing bodies that
are not whole msgpack objects) in the ``out_stream`` of a Data Ingestion of
``data_supply_module/default``; a ``fluentd`` policy (``data_format="fluentd"``) appends
each entry's data, decoded, to the stream whose reference is the tag.
"""

from __future__ import annotations

import io
import threading

import msgpack
import pytest

#: The decoding policy the tests create (the behaviour the default policy had before).
FLUENTD = "fluentd-decoding"


def packed(*entries) -> bytes:
    return b"".join(msgpack.packb(entry, use_bin_type=True) for entry in entries)


def decoded(*entries) -> bytes:
    """What a fluentd-decoding policy appends for ``entries``."""
    return b"".join(
        e[1] if isinstance(e[1], bytes) else e[1].encode() if isinstance(e[1], str)
        else msgpack.packb(e[1], use_bin_type=True) for e in entries)


@pytest.fixture(scope="module")
def fluentd_policy(server) -> str:
    """A policy with the entry-decoding option, created once for the module."""
    admin = server.session()
    if admin.get(f"{server.url}/portal_ingestion_policies/{FLUENTD}/status_json").ok:
        return FLUENTD
    created = admin.post(f"{server.url}/portal_ingestion_policies/newContentFromJSON",
                         json={"id": FLUENTD, "reference": FLUENTD, "data_format": "fluentd"})
    assert created.status_code == 201, created.text
    return FLUENTD


@pytest.fixture
def ingest(server, admin, fluentd_policy):
    def post(body, reference="sensor-1.temperature", policy="default", session=None,
             headers_extra=None, **kwargs):
        url = f"{server.url}/portal_ingestion_policies/{policy}/ingest"
        params = {"reference": reference} if reference is not None else {}
        headers = {"Content-Type": "application/octet-stream", **(headers_extra or {})}
        return (session or admin).post(url, params=params, data=body, headers=headers, **kwargs)

    return post


def stream_bytes(server, admin, reference, policy="default"):
    """The content of the stream ``policy`` feeds for ``reference``."""
    status = admin.get(f"{server.url}/portal_ingestion_policies/{policy}/status_json").json()
    return admin.get(status[reference]["url"]).content


def cell(server, admin, expression: str) -> str:
    """The text the notebook endpoint shows for ``expression`` evaluated in the portal."""
    reply = admin.post(f"{server.url}/Base_executeJupyter", data={
        "reference": "ingest-check", "python_expression": expression}).json()
    assert reply["status"] == "ok", reply
    return reply["displayhook_result"]["data"]["text/plain"]


def test_the_default_policy_stores_the_body_byte_for_byte_in_the_supplys_ingestion(
        server, admin, ingest):
    """As real Wendelin (testWendelin test_09): tag <sensor>.<product>, one started Data
    Ingestion of supply default whose out_stream holds the posted msgpack unchanged."""
    first, second = packed([1, b"one,"], [2, b"two,"]), packed([3, {"t": 21.5}])
    assert ingest(first).status_code == 204
    assert ingest(second).status_code == 204
    assert stream_bytes(server, admin, "sensor-1.temperature") == first + second
    found = cell(server, admin, (
        "[(i.getSimulationState(), i.getSpecialiseValue().getRelativeUrl(), "
        "i.getOutStreamValue().getSize(), [l.getResourceValue().getReference() "
        "for l in i.getLineList(reference='out_stream')]) "
        "for i in [b.getObject() for b in context.portal_catalog("
        "portal_type='Data Ingestion', reference='sensor-1.temperature')]]"))
    assert found == (f"[('started', 'data_supply_module/default', {len(first + second)}, "
                     "['temperature'])]")
    assert ingest(packed([4, b"x"]), reference="no-dot").status_code == 204  # no product
    assert stream_bytes(server, admin, "no-dot") == packed([4, b"x"])


def test_entries_are_appended_in_order_to_the_tags_stream(server, admin, ingest,
                                                          fluentd_policy):
    """The decoding option: each entry's data, in order, in the stream named by the tag."""
    assert ingest(packed([1, b"one,"], [2, b"two,"]), reference="sensor-1",
                  policy=fluentd_policy).status_code == 204
    assert ingest(packed([3, b"three"]), reference="sensor-1",
                  policy=fluentd_policy).status_code == 204
    assert stream_bytes(server, admin, "sensor-1", fluentd_policy) == b"one,two,three"
    listed = admin.post(
        f"{server.url}/Base_executeJupyter",
        data={
            "reference": "ingest-check",
            "python_expression": (
                "[b.getSize for b in context.portal_catalog(portal_type='Data Stream', "
                "reference='sensor-1')]"
            ),
        },
    ).json()
    assert listed["displayhook_result"]["data"]["text/plain"] == "[13]"  # listing metadata


@pytest.mark.parametrize("policy", ["default", FLUENTD])
def test_older_fluentd_form_field(server, admin, fluentd_policy, policy):
    url = f"{server.url}/portal_ingestion_policies/{policy}/ingest"
    body = packed([1, b"from a form"])
    answer = admin.post(
        url,
        params={"reference": f"form.{policy}"},
        files={"data_chunk": ("chunk", body)},
    )
    assert answer.status_code == 204, answer.text
    expected = body if policy == "default" else b"from a form"
    assert stream_bytes(server, admin, f"form.{policy}", policy) == expected


@pytest.mark.parametrize("policy", ["default", FLUENTD])
def test_bad_requests_append_nothing(server, admin, ingest, policy):
    kept, tag = packed([1, b"kept"]), f"guarded.{policy}"
    assert ingest(kept, reference=tag, policy=policy).status_code == 204
    broken = packed([2, b"lost"], [3, b"lost too"])[:-2]
    answer = ingest(broken, reference=tag, policy=policy)
    assert answer.status_code == 400 and "truncated" in answer.text
    expected = kept if policy == "default" else b"kept"
    assert stream_bytes(server, admin, tag, policy) == expected
    assert ingest(packed([1, b"x"]), reference=None, policy=policy).status_code == 400
    assert ingest(packed([1, b"x"]), policy="no-such-policy").status_code == 404


def test_unauthorised(server, admin, ingest):
    anonymous = server.session()
    anonymous.auth = None
    assert ingest(packed([1, b"x"]), session=anonymous).status_code == 401
    auditor = server.add_user("ingest-auditor", ["Auditor"])
    assert auditor.get(server.url).status_code == 200  # a real user of the site
    # Zope answers 401 to authenticated users lacking the permission too
    assert ingest(packed([1, b"x"]), session=auditor, reference="forbidden.x").status_code == 401
    status = admin.get(f"{server.url}/portal_ingestion_policies/default/status_json").json()
    assert "forbidden.x" not in status


def test_concurrent_appends_to_one_stream_lose_nothing(server, admin, ingest):
    """Parallel posts to one tag of the default policy, the first ones creating its Data
    Ingestion: one ingestion, every entry once, each client's in its own order."""
    clients, count = 4, 25

    def client(number: int) -> None:
        for i in range(count):
            payload = f"<{number}:{i}>".encode()
            answer = ingest(packed([i, payload]), reference="busy.meter")
            assert answer.status_code == 204, answer.text

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = stream_bytes(server, admin, "busy.meter")
    data = "".join(entry[1].decode() for entry in msgpack.Unpacker(
        io.BytesIO(stored), raw=False))
    assert cell(server, admin, "len(context.portal_catalog(portal_type='Data Ingestion', "
                               "reference='busy.meter'))") == "1"
    pieces = data.strip("<>").split("><")
    assert sorted(pieces) == sorted(f"{n}:{i}" for n in range(clients) for i in range(count))
    for n in range(clients):  # each client's payloads in its own order
        mine = [int(p.split(":")[1]) for p in pieces if p.startswith(f"{n}:")]
        assert mine == list(range(count))


def test_policy_with_a_csv_transform_fills_a_data_array(server, admin):
    created = admin.post(
        f"{server.url}/portal_ingestion_policies/newContentFromJSON",
        json={
            "id": "csv",
            "reference": "csv",
            "data_format": "raw",
            "transform_operation": "csv-to-array",
        },
    )
    assert created.status_code == 201, created.text
    url = f"{server.url}/portal_ingestion_policies/csv/ingest"
    headers = {"Content-Type": "application/octet-stream"}
    for body in (b"1,2\n3,", b"4\n5,6\n"):  # a line cut between two posts
        answer = admin.post(url, params={"reference": "meter"}, data=body, headers=headers)
        assert answer.status_code == 204, answer.text
    bad = admin.post(url, params={"reference": "meter"}, data=b"7,x\n", headers=headers)
    assert bad.status_code == 400 and "not numbers" in bad.text
    status = admin.get(f"{server.url}/portal_ingestion_policies/csv/status_json").json()
    assert admin.get(status["meter"]["url"]).content == b"1,2\n3,4\n5,6\n"
    reply = admin.post(
        f"{server.url}/Base_executeJupyter",
        data={
            "reference": "csv-check",
            "python_expression": (
                "context.portal_catalog.getResultValue(portal_type='Data Array', "
                "reference='meter.csv-array').getArray()[:].tolist()"
            ),
        },
    ).json()
    assert (
        reply["displayhook_result"]["data"]["text/plain"] == "[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]"
    )


def ingested_tags(server, admin, policy="default") -> dict:
    return admin.get(f"{server.url}/portal_ingestion_policies/{policy}/status_json").json()


@pytest.mark.parametrize("policy", ["default", FLUENTD])
def test_every_cut_of_a_body_appends_nothing_or_whole_entries(server, admin, ingest, policy):
    """A body cut inside an entry is refused whole; a cut between entries is a valid body,
    stored as sent (default) or as its entries' data (decoding policy)."""
    entries = ([1, b"first,"], [2, "zw\u00f6lf,"], [3, {"k": [1, 2]}])
    body = packed(*entries)
    ends = {len(packed(*entries[: n + 1])): n + 1 for n in range(len(entries))}
    for cut in range(1, len(body) + 1):
        tag = f"cut-{policy}.{cut}"
        answer = ingest(body[:cut], reference=tag, policy=policy)
        if cut in ends:
            assert answer.status_code == 204, (cut, answer.text)
            expected = body[:cut] if policy == "default" else decoded(*entries[: ends[cut]])
            assert stream_bytes(server, admin, tag, policy) == expected
        else:
            assert answer.status_code == 400, (cut, answer.status_code)
            assert "truncated" in answer.text
    stored = ingested_tags(server, admin, policy)
    assert ({tag for tag in stored if tag.startswith(f"cut-{policy}.")}
            == {f"cut-{policy}.{cut}" for cut in ends})
    whole = len(body) if policy == "default" else len(decoded(*entries))
    assert stored[f"cut-{policy}.{len(body)}"]["size"] == whole


@pytest.mark.parametrize(
    ("body", "policies"),
    [
        (packed([1, b"good"]) + b"\xc1", ("default", FLUENTD)),  # trailing garbage
        (packed([1, b"good"]) + b"\x05", (FLUENTD,)),  # a value that is not an entry
        (packed([1, b"good"]) + b"\x92\x01\x81\x91\x01\x02",  # a map keyed by a list
         ("default", FLUENTD)),
        (packed([1, b"good"]) + b"\xa2\xff\xfe", ("default",)),  # text that is not UTF-8
    ],
)
def test_bad_tails_and_unhashable_keys_are_400_and_append_nothing(server, admin, ingest, body,
                                                                   policies):
    """Bytes the stream's readMsgpackChunkList could not read back are refused whole."""
    for policy in policies:
        answer = ingest(body, reference="bad.tail", policy=policy)
        assert answer.status_code == 400, (policy, answer.text)
        assert "bad.tail" not in ingested_tags(server, admin, policy)


def test_text_form_fields_are_stored_as_the_bytes_sent(server, admin, fluentd_policy):
    """A raw policy receiving non-latin-1 text stores its UTF-8 bytes, never a 500."""
    created = admin.post(
        f"{server.url}/portal_ingestion_policies/newContentFromJSON",
        json={"id": "raw-text", "reference": "raw-text", "data_format": "raw"},
    )
    assert created.status_code == 201, created.text
    url = f"{server.url}/portal_ingestion_policies/raw-text/ingest"
    sent = "\u0442\u0435\u043a\u0441\u0442 \u20ac caf\u00e9\n".encode()
    for tag, data in (("cyrillic", sent), ("binary", b"\xff\xfe\x00\x80 not utf-8")):
        answer = admin.post(url, params={"reference": tag}, data={"data_chunk": data})
        assert answer.status_code == 204, answer.text
        status = ingested_tags(server, admin, "raw-text")
        assert admin.get(status[tag]["url"]).content == data
    # msgpack in a urlencoded field reaches the default and a decoding policy intact too
    body = packed([1, b"\xc3\xa9\xff"])
    for policy, expected in (("default", body), (FLUENTD, b"\xc3\xa9\xff")):
        answer = admin.post(
            f"{server.url}/portal_ingestion_policies/{policy}/ingest",
            params={"reference": f"urlencoded.{policy}"},
            data={"data_chunk": body},
        )
        assert answer.status_code == 204, answer.text
        assert stream_bytes(server, admin, f"urlencoded.{policy}", policy) == expected


def test_a_replayed_request_id_appends_once_and_answers_the_same(server, admin, ingest):
    """A client that lost the answer retries with the same Idempotency-Key: a no-op, on the
    default policy (stored bytes) as on a decoding one."""
    body, later = packed([1, b"once,"]), packed([2, b"twice"])
    for policy, once, expected in (("default", body, body + later),
                                   (FLUENTD, b"once,", b"once,twice")):
        key = {"Idempotency-Key": "req-1"}
        first = ingest(body, reference=f"replayed.{policy}", policy=policy, headers_extra=key)
        assert first.status_code == 204 and "Idempotency-Replayed" not in first.headers
        again = ingest(body, reference=f"replayed.{policy}", policy=policy, headers_extra=key)
        assert again.status_code == 204 and again.headers["Idempotency-Replayed"] == "true"
        by_parameter = admin.post(
            f"{server.url}/portal_ingestion_policies/{policy}/ingest",
            params={"reference": f"replayed.{policy}", "request_id": "req-1"},
            data=body,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert by_parameter.status_code == 204 and "Idempotency-Replayed" in by_parameter.headers
        assert ingest(later, reference=f"replayed.{policy}", policy=policy,
                      headers_extra={"Idempotency-Key": "req-2"}).status_code == 204
        assert stream_bytes(server, admin, f"replayed.{policy}", policy) == expected
        # the same id on another tag is another request
        assert ingest(body, reference=f"replayed-other.{policy}", policy=policy,
                      headers_extra=key).status_code == 204
        assert stream_bytes(server, admin, f"replayed-other.{policy}", policy) == once


def test_a_refused_request_id_is_not_remembered(server, admin, ingest):
    """A 400 aborts the record with the append: the corrected retry is applied."""
    key = {"Idempotency-Key": "fix-me"}
    broken = ingest(packed([1, b"late"])[:-1], reference="retried.x", headers_extra=key)
    assert broken.status_code == 400
    fixed = ingest(packed([1, b"late"]), reference="retried.x", headers_extra=key)
    assert fixed.status_code == 204 and "Idempotency-Replayed" not in fixed.headers
    assert stream_bytes(server, admin, "retried.x") == packed([1, b"late"])
    bad = ingest(packed([1, b"x"]), reference="bad.id", headers_extra={"Idempotency-Key": "a b"})
    assert bad.status_code == 400 and "Idempotency-Key" in bad.text
    assert "bad.id" not in ingested_tags(server, admin)


def test_an_ingest_that_would_fill_the_disk_is_413_and_appends_nothing(make_server, tmp_path):
    """The free-disk quota (here 1 GiB more than is free, clamped at 90 %: CI disks are more
    than a tenth full) is checked before any append."""
    import shutil

    usage = shutil.disk_usage(tmp_path)
    quota = str(min(0.9, (usage.free + 1024**3) / usage.total))
    server = make_server(WENDELIN_MIN_FREE_DISK=quota)
    server.start()
    admin = server.session()
    answer = admin.post(f"{server.url}/portal_ingestion_policies/default/ingest",
                        params={"reference": "too.much"}, data=packed([1, b"\x01" * 4096]),
                        headers={"Content-Type": "application/octet-stream"})
    assert answer.status_code == 413, answer.text[:300]
    assert "too.much" not in ingested_tags(server, admin)


def test_append_csv_to_array_validates_its_arguments_and_answers_post_only(server, admin):
    """``start=abc`` is a 400, a GET a 405; neither creates the array. A POST appends."""
    stream = server.create("data_stream_module", reference="csv-by-url")
    put = admin.put(stream["url"], data=b"1,2\n3,4\n",
                    headers={"Content-Type": "application/octet-stream"})
    assert put.status_code in (200, 204), put.text
    script = f"{stream['url']}/DataStream_appendCsvToArray"

    def arrays() -> str:
        reply = admin.post(f"{server.url}/Base_executeJupyter", data={
            "reference": "csv-url-check",
            "python_expression": "[b.reference for b in context.portal_catalog("
                                 "portal_type='Data Array', reference='csv-by-url.csv-array')]",
        }).json()
        return reply["displayhook_result"]["data"]["text/plain"]

    for params in ({"start": "abc"}, {"start": "-1"}, {"end": "1e999"}, {"start:int": "abc"}):
        answer = admin.post(script, params=params)
        assert answer.status_code == 400, (params, answer.status_code, answer.text[:300])
    for params in ({}, {"start": "0"}):
        answer = admin.get(script, params=params)
        assert answer.status_code == 405, (params, answer.status_code, answer.text[:300])
    assert admin.head(script).status_code < 500  # Zope's HEAD of a script never runs it
    assert arrays() == "[]"
    answer = admin.post(script, params={"start": "0"})
    assert answer.status_code == 200 and answer.text == "8", answer.text[:300]
    assert arrays() == "['csv-by-url.csv-array']"


@pytest.mark.parametrize("policy", ["default", FLUENTD])
def test_an_entry_beyond_100_mib_is_413_and_appends_nothing(server, admin, ingest, policy):
    """One msgpack object the parser cannot hold (over 100 MiB) is a quota, said as such,
    not a "malformed" body; what the tag's stream held stays."""
    kept, tag = packed([1, b"kept"]), f"huge.{policy}"
    assert ingest(kept, reference=tag, policy=policy).status_code == 204
    answer = ingest(packed([2, b"\0" * (101 << 20)]), reference=tag, policy=policy)
    assert answer.status_code == 413, answer.text[:300]
    assert "larger than 100 MiB" in answer.text and "malformed" not in answer.text
    expected = kept if policy == "default" else b"kept"
    assert stream_bytes(server, admin, tag, policy) == expected
