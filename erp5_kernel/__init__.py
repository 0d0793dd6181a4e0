"""The ERP5 Jupyter kernel: sends each cell to a Wendelin (or ERP5) server."""
