"""Models of vitdense."""

from .backbones import *  # noqa: F401,F403
from .classifiers import UpstreamImageClassifier  # noqa: F401
from .necks import *  # noqa: F401,F403
from .task_modules import OnDeviceRandomSampler  # noqa: F401
from .token_label import TokenLabelClassifier, TokenLabelClsHead  # noqa: F401
