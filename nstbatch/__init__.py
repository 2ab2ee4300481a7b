"""nstbatch: neural style transfer (Gatys et al.) for folders of photos and videos."""

__version__ = "0.1.0"

from .api import stylize  # noqa: E402
from .exporter import export_vgg19  # noqa: E402

__all__ = ["stylize", "export_vgg19", "__version__"]
