"""kubeward's spine: the model, the pipeline, the Report and the command line."""

__version__ = "0.1.0"
