"""``.ipynb`` content of Data Notebooks: validation, and notebooks built from stored cells."""

from __future__ import annotations

import copy
from typing import Any

import nbformat
from nbformat.v4.rwbase import rejoin_lines

from ..errors import WendelinError

KERNELSPEC = {"name": "erp5", "display_name": "ERP5", "language": "python"}


class NotebookFormatError(WendelinError, ValueError):
    """Content that is not a valid nbformat-4 notebook."""


def check_ipynb(content: Any) -> None:
    """NotebookFormatError (400) for content ``normalise`` could not store as it is."""
    if not isinstance(content, dict):
        raise NotebookFormatError(f"a notebook is a JSON object, not {type(content).__name__}")
    metadata = content.get("metadata", {})
    if not isinstance(metadata, dict):
        raise NotebookFormatError(
            f"invalid notebook: 'metadata' is an object, not {type(metadata).__name__}"
        )
    erp5 = metadata.get("erp5", {})
    if not isinstance(erp5, dict):
        raise NotebookFormatError(
            f"invalid notebook: 'metadata.erp5' is an object, not {type(erp5).__name__}"
        )


def normalise(content: Any, reference: str) -> dict[str, Any]:
    """Validate nbformat-4 content; return a copy with the ERP5 kernelspec and reference.

    Multi-line sources and outputs stored as lists of lines are joined into strings.
    """
    check_ipynb(content)
    if content.get("nbformat") != 4:
        raise NotebookFormatError(
            f"only nbformat 4 notebooks are stored, got nbformat={content.get('nbformat')!r}"
        )
    try:
        node = rejoin_lines(nbformat.from_dict(copy.deepcopy(content)))
        nbformat.validate(node)
    except nbformat.ValidationError as error:
        message = str(error).splitlines()[0]
        raise NotebookFormatError(f"invalid notebook: {message}") from None
    except Exception as error:  # noqa: BLE001  (malformed structures raise many types)
        raise NotebookFormatError(f"invalid notebook: {error}") from None
    metadata = node.setdefault("metadata", {})
    metadata.setdefault("kernelspec", dict(KERNELSPEC))
    metadata.setdefault("language_info", {"name": "python"})
    metadata["erp5"] = {**metadata.get("erp5", {}), "reference": reference}
    return _plain(node)


def _plain(node: Any) -> Any:
    """NotebookNode -> plain dicts and lists (JSON and pickle friendly)."""
    if isinstance(node, dict):
        return {key: _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(value) for value in node]
    return node


def notebook_from_lines(notebook: Any) -> dict[str, Any]:
    """An nbformat-4 notebook whose code cells are the notebook's stored lines."""
    node = nbformat.v4.new_notebook()
    node.metadata["kernelspec"] = dict(KERNELSPEC)
    node.metadata["language_info"] = {"name": "python"}
    node.metadata["erp5"] = {"reference": notebook.getReference()}
    for count, line in enumerate(notebook.getNotebookLineList(), 1):
        cell = nbformat.v4.new_code_cell(source=line.getNotebookCode(), execution_count=count)
        cell.id = f"line-{line.getId()}"  # stable: the same notebook reads the same twice
        cell.outputs = [nbformat.from_dict(output) for output in line.getOutputList()]
        for output in cell.outputs:
            if output.get("output_type") == "execute_result":
                output["execution_count"] = count
        node.cells.append(cell)
    nbformat.validate(node)
    return _plain(node)
