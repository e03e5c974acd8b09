"""mmpretrain's image classifier, made to load upstream's classification checkpoints as they are."""

from __future__ import annotations

from typing import Any, ClassVar

from mmengine.logging import MMLogger
from mmengine.registry import MODELS
from mmpretrain.models import ImageClassifier
from torch import Tensor


@MODELS.register_module()
class UpstreamImageClassifier(ImageClassifier):
    """mmpretrain's ``ImageClassifier`` that also loads upstream's flat classification checkpoints.

    Upstream's classifiers (LITv2, LIT, SG-Former, DeiT) keep the backbone's keys at the top
    level, a final ``norm`` and a ``head`` linear layer, often wrapped in ``model``. Whoever
    loads such a state dict into this classifier (``tools/test.py``, ``load_from``, the
    inferencer), it is mapped to mmpretrain's layout first: the head to ``head.fc``, the
    final norm to the backbone's ``classifier_norm``, the rest under ``backbone.``, which
    the backbone converts from upstream's names strictly (see
    :class:`~vitdense.models.backbones.weights.ConvertsCheckpoints`). The arguments are
    ``ImageClassifier``'s.
    """

    #: Upstream's head prefixes and where they go.
    upstream_head_keys: ClassVar[dict[str, str]] = {'head.': 'head.fc.'}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._register_load_state_dict_pre_hook(self._from_upstream)

    def _from_upstream(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        wrapped = state_dict.get(prefix + 'model')
        if isinstance(wrapped, dict):  # the release's {'model': ..., 'epoch': ..., 'config': ...}
            for key in [k for k in state_dict if k.startswith(prefix)]:
                del state_dict[key]
            state_dict.update({prefix + k: v for k, v in wrapped.items() if isinstance(v, Tensor)})
        keys = [k for k in state_dict if k.startswith(prefix)]
        if not keys or any(k[len(prefix) :].startswith(('backbone.', 'neck.')) for k in keys):
            return  # mmpretrain's layout (upstream's files have no backbone or neck prefix)
        final_norm = getattr(self.backbone, 'classifier_norm', None)
        mapped = {}
        for key in keys:
            rest = key[len(prefix) :]
            head = next((h for h in self.upstream_head_keys if rest.startswith(h)), None)
            if head:
                new = self.upstream_head_keys[head] + rest[len(head) :]
            elif rest.startswith('norm.') and final_norm:
                new = f'backbone.{final_norm}.{rest[len("norm.") :]}'
            else:
                new = 'backbone.' + rest
            mapped[prefix + new] = state_dict.pop(key)
        state_dict.update(mapped)
        MMLogger.get_current_instance().info(
            f'UpstreamImageClassifier: mapped {len(mapped)} tensors of an upstream classification checkpoint'
        )
