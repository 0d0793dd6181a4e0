"""testWendelin's behaviours (test_01 ... test_16) against the real server and its alarm."""

from __future__ import annotations

from urllib.parse import urlencode

import msgpack
import pytest

CSV = "".join(",".join(str(x) for x in range(i, min(i + 10, 100001))) + "\n"
              for i in range(0, 100001, 10))
SUPPLY_OF = ("policy = portal.portal_ingestion_policies[{ref!r}]\n"
             "supply = policy.getDataSupplyValue()\n"
             "ingestion = supply.Base_getRelatedObjectList(portal_type='Data Ingestion')[0]\n"
             "line = [x for x in ingestion.objectValues() if x.getReference() == 'out_stream'][0]\n"
             "stream = line.getAggregateValue()\n")


def _add_policy(portal, ref: str) -> None:
    portal.run(
        "policy, supply, product = portal.portal_ingestion_policies."
        f"IngestionPolicyTool_addIngestionPolicy(reference={ref!r}, title={ref!r}, "
        "batch_mode=1)\n"
        f"assert policy.getId() == {ref!r}")


def _ingest(portal, policy: str, tag: str, body: bytes, old_fluentd: bool = False) -> None:
    url = f"{portal.url}/portal_ingestion_policies/{policy}/ingest?reference={tag}"
    if old_fluentd:
        answer = portal.server.session().post(
            url, data=urlencode({"data_chunk": body}),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:
        answer = portal.server.session().post(
            url, data=body, headers={"Content-Type": "application/octet-stream"})
    assert answer.status_code == 204, answer.text


@pytest.mark.parametrize("old_fluentd", [False, True], ids=["test_01", "test_01_1"])
def test_01_ingestion_from_fluentd_then_transform_in_activities(portal, old_fluentd):
    """A policy made by IngestionPolicyTool_addIngestionPolicy stores what fluentd posts in
    its supply's ingestion's out_stream Data Stream; DataStream_transform returns at once and
    background activities turn the 100,001 CSV numbers into arange(100001)."""
    ref = f"t01-{int(old_fluentd)}"
    _add_policy(portal, ref)
    _ingest(portal, ref, ref, msgpack.packb([0, CSV], use_bin_type=True), old_fluentd)
    setup = SUPPLY_OF.format(ref=ref)
    assert portal.value("stream.getPortalType()", setup) == "Data Stream"
    assert portal.value("stream.getData() == " + repr(CSV.encode()), setup)
    tag = portal.value(
        f"stream.DataStream_transform(chunk_length=10450, "
        f"transform_script_id='DataStream_copyCSVToDataArray', data_array_reference={ref!r})",
        setup + f"portal.data_array_module.newContent(reference={ref!r})\n")
    assert tag.startswith("transform:")
    array = (f"a = portal.portal_catalog.getResultValue(portal_type='Data Array', "
             f"reference={ref!r})\nimport numpy as np\n")
    portal.wait(lambda: portal.value(
        "a.getArray() is not None and a.getArray().shape[0] == 100001", array), 180,
        "the transformed array")
    assert portal.value("bool(np.array_equal(a.getArray()[:], np.arange(100001)))", array)


def test_01_02_parallel_transformation(portal):
    """parallelize=1 queues every chunk at once (one CSV row each); all rows arrive."""
    row = ",".join(str(x) for x in range(1000))
    data = "\n".join([row] * 20)
    portal.run(f"s = portal.data_stream_module.newContent(reference='t0102')\n"
               f"s.appendData({data.encode()!r})\n"
               "s.DataStream_transform(chunk_length=len(" + repr(row) + "), "
               "transform_script_id='DataStream_copyCSVToDataArray', "
               "data_array_reference='t0102', parallelize=1)")
    array = ("a = portal.portal_catalog.getResultValue(portal_type='Data Array', "
             "reference='t0102')\nimport numpy as np\n")
    portal.wait(lambda: portal.value(
        "a is not None and a.getArray() is not None and a.getArray().shape[0] == 20000",
        array), 180, "20 parallel chunks")
    assert portal.value("sorted(a.getArray()[:].tolist()) == sorted(list(range(1000)) * 20)",
                        array)


def test_05_alarm_handle_analysis_runs(portal):
    """Alarm_handleAnalysis runs by hand too (nothing to do is fine)."""
    assert set(portal.value("portal.Alarm_handleAnalysis()")) == {"created", "queued"}


def test_06_default_configuration_exists(portal):
    """The default policy and data_supply_module['default'] the HowTos use are shipped."""
    assert portal.value("getattr(portal.portal_ingestion_policies, 'default', None) is not None")
    assert portal.value("getattr(portal.data_supply_module, 'default', None) is not None")


def test_09_default_supply_stores_msgpack_byte_for_byte(portal):
    """A policy feeding data_supply_module['default'] (tags <sensor>.<product>) stores the
    msgpack body as it came; readMsgpackChunkList and extractDateTime read it back."""
    portal.run("p = portal.portal_ingestion_policies.newContent(id='t09', reference='t09', "
               "data_format='raw', data_supply='data_supply_module/default')")
    real = [[1_700_000_000 + 1000 * x, x] for x in range(10001)]
    body = msgpack.packb(real, use_bin_type=True)
    _ingest(portal, "t09", "test_sensor.test_product", body)
    setup = ("supply = portal.data_supply_module['default']\n"
             "ingestion = [i for i in supply.Base_getRelatedObjectList("
             "portal_type='Data Ingestion') if i.getReference() == 'test_sensor.test_product'][0]\n"
             "stream = ingestion.getOutStreamValue()\n")
    assert portal.value("stream.getData() == " + repr(body), setup)
    assert portal.value("ingestion.getLineList(reference='out_stream')[0]"
                        ".getResourceValue().getReference()", setup) == "test_product"
    unpacked = portal.value("stream.readMsgpackChunkList(0, stream.getSize())", setup)
    assert unpacked == [[real], len(body)]
    assert portal.value("all(stream.extractDateTime(x[0]) == np.datetime64(x[0], 's') "
                        "for x in stream.readMsgpackChunkList(0, stream.getSize())[0][0])",
                        setup + "import numpy as np\n")


TRANSFORMATION = """
product = portal.portal_catalog.getResultValue(portal_type='Data Product', reference={ref!r})
operation = portal.portal_catalog.getResultValue(portal_type='Data Operation',
                                                 reference='wendelin-csv-to-array')
t = portal.data_transformation_module.newContent(title={ref!r}, reference={ref!r},
    resource_value=product, analysis_grouping={grouping!r})
t.newContent(portal_type='Data Transformation Resource Line', reference='in_stream',
             resource_value=product, quantity=-1)
t.newContent(portal_type='Data Transformation Resource Line', reference='out_array',
             quantity=1)
t.newContent(portal_type='Data Transformation Operation Line', reference='data_operation',
             resource_value=operation, quantity=1)
t.validate()
"""
ANALYSES = ("t = portal.portal_catalog.getResultValue(portal_type='Data Transformation', "
            "reference={ref!r})\n"
            "found = portal.portal_catalog(portal_type='Data Analysis', "
            "getSpecialiseList=t.getRelativeUrl())\n"
            "analyses = sorted((b.getObject() for b in found), key=lambda a: a.getId())\n"
            "import numpy as np\n")


def _csv(start: int, count: int) -> bytes:
    return "".join(f"{x}\n" for x in range(start, start + count)).encode()


def _entries(data: bytes) -> bytes:
    return msgpack.packb([0, data], use_bin_type=True)


def test_10_1_alarm_creates_the_analysis_and_processes_incrementally(portal):
    """With nobody calling anything: the alarm makes one started Data Analysis (causality:
    the ingestion, specialise: supply and transformation, one line per transformation
    line), its activities fill the array; data ingested later is appended from the
    Progress Indicator; refresh reprocesses from scratch."""
    ref = "t101"
    _add_policy(portal, ref)
    _ingest(portal, ref, ref, _entries(_csv(0, 1000)))
    portal.run(TRANSFORMATION.format(ref=ref, grouping="ingestion"))
    setup = ANALYSES.format(ref=ref) + SUPPLY_OF.format(ref=ref)
    portal.wait(lambda: portal.value("len(analyses)", setup) == 1, 60, "the analysis")
    assert portal.value("analyses[0].getCausalityValue() == ingestion", setup)
    assert portal.value("sorted(x.getRelativeUrl() for x in analyses[0].getSpecialiseValueList())"
                        " == sorted([supply.getRelativeUrl(), t.getRelativeUrl()])", setup)
    assert portal.value("len(analyses[0].objectValues()) == len(t.objectValues())", setup)
    assert portal.value("analyses[0].getSimulationState()", setup) == "started"
    out = setup + ("a = analyses[0].getLineList(reference='out_array')[0]"
                   ".getAggregateValue(portal_type='Data Array')\n")
    portal.wait(lambda: portal.value("a.getArray() is not None and len(a.getArray()) == 1000",
                                     out), 60, "the first 1000 numbers")
    _ingest(portal, ref, ref, _entries(_csv(1000, 500) + b"1500"))  # the last line unfinished
    portal.wait(lambda: portal.value("len(a.getArray())", out) == 1500, 60, "500 more")
    _ingest(portal, ref, ref, _entries(b"\n"))
    portal.wait(lambda: portal.value("len(a.getArray())", out) == 1501, 60, "the cut line")
    assert portal.value("bool(np.array_equal(a.getArray()[:], np.arange(1501)))", out)
    portal.run(out + "analyses[0].refresh()")
    portal.wait(lambda: portal.value("a.getArray() is not None and len(a.getArray()) == 1501",
                                     out), 60, "the refreshed array")
    portal.wait_idle()
    assert portal.value("bool(np.array_equal(a.getArray()[:], np.arange(1501)))", out)
    assert portal.value("len(analyses)", out) == 1


@pytest.mark.parametrize("grouping,count", [("shared", 1), ("ingestion", 2)],
                         ids=["test_10_2_shared", "test_10_3_one_each"])
def test_10_2_and_10_3_analysis_per_ingestion_or_shared(portal, grouping, count):
    """Two ingestions (two tags) of one product: the preference gives one shared analysis
    reading both streams into one array, or one analysis and one array each."""
    ref = f"t10-{grouping}"
    _add_policy(portal, ref)
    portal.run(TRANSFORMATION.format(ref=ref, grouping=grouping))
    _ingest(portal, ref, f"{ref}.a", _entries(_csv(0, 100)))
    _ingest(portal, ref, f"{ref}.b", _entries(_csv(100, 100)))
    setup = ANALYSES.format(ref=ref)
    portal.wait(lambda: portal.value(
        "sum(len(a.getCausalityList()) for a in analyses)", setup) == 2, 60, "both read")
    assert portal.value("len(analyses)", setup) == count
    arrays = setup + ("arrays = [a.getLineList(reference='out_array')[0]"
                      ".getAggregateValue(portal_type='Data Array') for a in analyses]\n")
    portal.wait(lambda: portal.value(
        "sum(len(x.getArray()) if x.getArray() is not None else 0 for x in arrays)",
        arrays) == 200, 60, "200 numbers")
    values = sorted(portal.value("[v for x in arrays for v in x.getArray()[:].tolist()]",
                                 arrays))
    assert values == list(range(200))


def test_16_analyses_from_transformations_without_variation(portal):
    """Two validated transformations of a product with only an operation line get one
    analysis each (titled as the transformation) from a started analysis of that product."""
    portal.run("""
product = portal.data_product_module.newContent(title='T16 product', reference='t16')
product.validate()
operation = portal.portal_catalog.getResultValue(portal_type='Data Operation',
                                                 reference='wendelin-csv-to-array')
supply = portal.data_supply_module.newContent(title='T16 supply')
supply.validate()
for title in ('T16 specialise transformation', 'T16 transformation'):
    t = portal.data_transformation_module.newContent(title=title, resource_value=product)
    t.newContent(portal_type='Data Transformation Operation Line', reference='data_operation',
                 resource_value=operation, quantity=1)
    t.validate()
initial = portal.data_analysis_module.newContent(title='T16 import raw data',
    resource_value=product, specialise_value_list=[supply])
initial.start()
initial.newContent(portal_type='Data Analysis Line', reference='out_array', quantity=1,
                   resource_value=product, use='use/big_data/ingestion/stream',
                   variation_category_list=['resolution/x'])
""")
    for title in ("T16 specialise transformation", "T16 transformation"):
        portal.wait(lambda title=title: portal.value(
            f"portal.portal_catalog.getResultValue(portal_type='Data Analysis', "
            f"title={title!r}) is not None"), 60, f"the analysis of {title}")
