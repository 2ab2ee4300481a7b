"""nstbatch: neural style transfer (Gatys et al.) for folders of photos and videos.

The public API is loaded on first use, so importing one of nstbatch's modules (``nstbatch.media.images``,
``nstbatch.runtime.gram``) loads that module and what it needs, not the whole package.
"""

import logging

from .version import __version__

# A library stays silent unless its user configures logging; the CLI shows warnings above its bars.
logging.getLogger("nstbatch").addHandler(logging.NullHandler())

__all__ = ["stylize", "stylize_video", "export_vgg19", "__version__"]


def __getattr__(name: str):
    if name in ("stylize", "stylize_video"):
        from . import api

        return getattr(api, name)
    if name == "export_vgg19":
        from .exporter import export_vgg19

        return export_vgg19
    raise AttributeError(f"module 'nstbatch' has no attribute '{name}'")
