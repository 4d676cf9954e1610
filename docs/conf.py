"""Sphinx configuration of mproc's user documentation.

Build (from the repository root, with ``pip install -e '.[docs]'``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
    python -m sphinx -W --keep-going -b doctest docs docs/_build/doctest
"""

from __future__ import annotations

import os
import sys

# Document (and run the examples against) this checkout's mproc, whatever is installed.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src")))

import mproc  # noqa: E402

project = "mproc"
author = "The mproc authors"
copyright = "the mproc authors"  # noqa: A001 - Sphinx's name
release = mproc.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_heading_anchors = 3

# autodoc: the public modules, members in source order, signatures as written.
autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    "show-inheritance": True,
}
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autoclass_content = "class"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# doctest: examples in the pages ({doctest}, {testcode}) and in docstrings (>>>).
doctest_global_setup = f"""
import mproc
DOCS = {os.path.dirname(os.path.abspath(__file__))!r}
"""
trim_doctest_flags = True

html_theme = "alabaster"
html_title = f"mproc {release}"
html_theme_options = {
    "description": "a from-scratch, drop-in multiprocessing",
    "fixed_sidebar": True,
}


def _bound_method_signature(app, what, name, obj, options, signature, return_annotation):
    """``mproc.Pool`` & co. are bound methods of the default context: show their own
    signature (autodoc drops their first real parameter as if it were ``self``), and
    the public names of the types they return rather than the private aliases."""
    import inspect
    import re

    from sphinx.util.inspect import stringify_signature

    if what == "function" and inspect.ismethod(obj):
        sig = inspect.signature(obj)
        signature = stringify_signature(sig, show_return_annotation=False)
        if sig.return_annotation is not inspect.Signature.empty:
            return_annotation = str(sig.return_annotation)
    def public(text: str) -> str:
        return re.sub(r"(?<![\w.])_([A-Z]\w*)",
                      lambda m: _PUBLIC_NAMES.get(m.group(1), m.group(1)), text)

    return (public(signature) if signature else signature,
            public(return_annotation) if return_annotation else return_annotation)


# The private aliases the context's annotations use (``_Pool``...), by their public names.
_PUBLIC_NAMES = {
    **{name: f"mproc.synchronize.{name}" for name in (
        "Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier")},
    **{name: f"mproc.queues.{name}" for name in ("Queue", "JoinableQueue", "SimpleQueue")},
    **{name: f"mproc.sharedctypes.{name}" for name in (
        "Synchronized", "SynchronizedArray", "SynchronizedString")},
    "Pool": "mproc.pool.Pool",
    "SyncManager": "mproc.managers.SyncManager",
    "Connection": "mproc.connection.Connection",
    "CArray": "ctypes.Array",
    "LockLike": "mproc.synchronize.Lock | mproc.synchronize.RLock",
    "LockArg": "bool | mproc.synchronize.Lock | mproc.synchronize.RLock",
}


def _public_bases(app, name, obj, options, bases):
    """Show only the public classes among a class's bases (not the run-time stand-in
    for ``typing.Generic`` or private helpers)."""
    bases[:] = [base for base in bases
                if isinstance(base, type) and not base.__name__.startswith("_")] or [object]


def setup(app):
    app.connect("autodoc-process-signature", _bound_method_signature)
    app.connect("autodoc-process-bases", _public_bases)
