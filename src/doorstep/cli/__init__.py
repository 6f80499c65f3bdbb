"""The ``doorstep`` command line (Typer and Rich), assembled in :mod:`.main`.

A command parses its options, calls one service and renders what comes back: shared options in
:mod:`.options`, the two consoles in :mod:`.console`, rendering in the ``render`` modules, and
one handler for :class:`~doorstep.errors.DoorstepError` in :mod:`.errors`.
"""
