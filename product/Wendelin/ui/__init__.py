"""The web UI's Python side: views, sessions, listings and previews behind the skins.

The page templates and thin scripts live in the ``erp5_wendelin_ui`` business
template; the scripts may import only the names declared public in ``..restricted``.
"""
