"""The devices nstbatch paints on, and the optimisation's defaults (``stylize.Options`` and the commands'
options take them from here): a module without torch, so the command line and a network worker can use
them without loading it."""

DEVICE_NAMES = ("auto", "cpu", "cuda")  # and cuda:N

DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

DEFAULT_OPTIMIZER = "lbfgs"
DEFAULT_LEARNING_RATE = 0.02  # Adam only
DEFAULT_CONTENT_WEIGHT = 1.0
DEFAULT_STYLE_WEIGHT = 3.0
DEFAULT_TV_WEIGHT = 0.0
DEFAULT_POOLING = "max"
