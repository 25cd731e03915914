"""The subcommands of ``portsift``: one light parser module and one implementation each.

``portsift.cli`` builds the parser from each command's ``add_parser`` (no heavy imports)
and dispatches to its ``run``, which imports the implementation only when it is run.
"""
