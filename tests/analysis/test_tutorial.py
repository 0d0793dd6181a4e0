"""The shipped tutorial notebook, executed by nbclient through the ERP5 kernel on a live site."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import functional_server as functional
import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "bt5" / "erp5_wendelin_tutorial"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sys.path.insert(0, str(TUTORIAL / "sample"))
upload_sample = _load(TUTORIAL / "sample" / "upload_sample.py", "wendelin_upload_sample")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    server = functional.Server(tmp_path_factory.mktemp("tutorial-site"), {"WENDELIN_JUPYTER": "0"})
    server.start()
    yield server
    server.stop()


def text_of(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_tutorial_runs_end_to_end(site, tmp_path, monkeypatch):
    from erp5_kernel.install import install

    wav = tmp_path / "sample.wav"
    upload_sample.write_sample(str(wav), seconds=4.0)
    auth = ("zope", functional.PASSWORD)
    stream_url = upload_sample.upload(site.url, auth, str(wav))
    assert stream_url.startswith(f"{site.url}/data_stream_module/")

    kernels = Path(install(prefix=str(tmp_path / "prefix"))).parent.parent
    monkeypatch.setenv("JUPYTER_PATH", str(kernels))
    monkeypatch.setenv("ERP5_URL", site.url)
    monkeypatch.setenv("ERP5_USER", "zope")
    monkeypatch.setenv("ERP5_PASSWORD", functional.PASSWORD)
    notebook = nbformat.read(TUTORIAL / "notebooks" / "wendelin-tutorial.ipynb", as_version=4)
    NotebookClient(notebook, kernel_name="erp5", timeout=180).execute()

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert errors == []
    everything = "\n".join(text_of(cell) for cell in code_cells)
    assert "left channel peaks at 440.0 Hz" in everything
    assert "right channel peaks at 1000.0 Hz" in everything
    assert "spectra identical: True" in everything
    assert "Not kept" not in everything  # the tutorial keeps only what can be kept
    images = [o for c in code_cells for o in c.outputs if "image/png" in o.get("data", {})]
    html_images = [
        o
        for c in code_cells
        for o in c.outputs
        if "data:image/png;base64" in o.get("data", {}).get("text/html", "")
    ]
    assert images and len(html_images) >= 3
    assert "tutorial-left-spectrum" in text_of(code_cells[-2])
    for reference in (
        "tutorial-left",
        "tutorial-left-fft",
        "tutorial-right-fft",
        "tutorial-left-rerun-fft",
    ):
        assert reference in text_of(code_cells[-1])

    session = site.session()
    image_url = f"{site.url}/image_module/1"
    response = session.get(image_url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
