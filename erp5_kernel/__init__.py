"""The ERP5 Jupyter kernel: sends each cell to a Wendelin (or ERP5) server.

Also the contents manager that shows the portal's Data Notebooks in Jupyter and the
launcher that starts Jupyter next to the server.
"""

__version__ = "0.1.0"
