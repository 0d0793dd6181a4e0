"""A cell process encodes ERP5's JSON reply itself: an output JSON cannot carry is an error.

The cell ran and committed; its reply names why its output could not be sent, and the
process lives on (the next cell of the notebook runs in it, seeing the kept variable).
"""

from __future__ import annotations

from isolation_helpers import run_cell, value

NOT_JSON = (
    "import os\n"
    "class Odd:\n"
    "    def _repr_json_(self):\n"
    "        return {'members': {1, 2}}\n"
    "kept = os.environ['WENDELIN_CELL_PID']\n"
    "Odd()\n"
)


def test_an_output_json_cannot_carry_gives_an_error_reply_and_the_process_lives(cells_server):
    reply = run_cell(cells_server, NOT_JSON, "reply-encoding")
    assert (reply["status"], reply["ename"]) == ("error", "OutputEncodingError"), reply
    assert "not JSON" in reply["evalue"] and "set" in reply["evalue"]
    same = "kept == os.environ['WENDELIN_CELL_PID']"
    assert value(run_cell(cells_server, same, "reply-encoding")) == "True"
