"""The optimisation's default layers: a module without torch, so the command line can show them (and the
training settings use them) without loading it."""

DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
