"""nstbatch: neural style transfer (Gatys et al.) for folders of photos and videos."""

import logging

__version__ = "0.1.0"

# A library stays silent unless its user configures logging; the CLI shows warnings above its bars.
logging.getLogger("nstbatch").addHandler(logging.NullHandler())

from .api import stylize  # noqa: E402
from .exporter import export_vgg19  # noqa: E402

__all__ = ["stylize", "export_vgg19", "__version__"]
