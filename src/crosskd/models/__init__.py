"""Models: GCN teachers (``agcn``) and the GAF ResNet student (``gaf_resnet18``).

Importing this package registers every model; build them by name with :func:`build_model`.
"""

from crosskd.models import agcn, gaf_resnet, temporal_cnn  # noqa: F401  (import registers them)
from crosskd.models.output import ModelOutput
from crosskd.models.registry import build_model, model_names, register_model

__all__ = ["ModelOutput", "build_model", "model_names", "register_model"]
