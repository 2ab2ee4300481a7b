"""The devices nstbatch paints on, and the optimisation's default layers: a module without torch, so the
command line and a network worker can use them without loading it."""

DEVICES = ("auto", "cpu", "cuda")  # and cuda:N

DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
