"""Token labeling (SpectFormer's upstream recipe): label maps follow the image, targets follow the crop,
MixToken mixes the stem and un-mixes the tokens, upstream's files load, the pipeline runs on the
synthetic set's maps and missing maps are a clear error."""

from __future__ import annotations

import os.path as osp
import pickle
from copy import deepcopy

import numpy as np
import pytest
import torch
from conftest import REPO, pvt_upstream_layout, randomise, recording_backend
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import vitdense.models.token_label as token_label
from vitdense.datasets import make_imagenet
from vitdense.datasets.token_label import (
    LoadTokenLabel,
    RandomResizedCropWithCoords,
    TokenLabelFlip,
    TokenLabelImageNet,
    TokenLabelRotate,
    TokenLabelShear,
    TokenLabelTranslate,
    token_label_array,
    token_label_tensor,
)
from vitdense.models.token_label import token_label_targets
from vitdense.utils.launch import load_config

CONFIG = 'configs/imagenet/spectformer_h-s_tl_in1k.py'


def quadrant_map(classes=(1, 2, 3, 4), cells: int = 18) -> torch.Tensor:
    """A (1, 2, 5, cells, cells) map whose top-1 class is classes[i] in quadrant i (row-major)."""
    top = torch.empty(cells, cells)
    half = cells // 2
    top[:half, :half], top[:half, half:], top[half:, :half], top[half:, half:] = classes
    indices = torch.stack([top] + [(top + k) % 1000 + 10 for k in range(1, 5)])
    values = torch.tensor([9.0, 1.0, 0.5, 0.2, 0.1])[:, None, None].expand(5, cells, cells)
    return torch.stack([values, indices])[None]


@pytest.mark.parametrize('upstream', [False, True])
def test_targets_are_pooled_from_the_crop(upstream) -> None:
    maps = quadrant_map()
    top_right = torch.tensor([[0.0, 0.5, 0.5, 1.0]])  # top, left, bottom, right
    cls_target, tokens = token_label_targets(maps, top_right, 1000, (2, 2), 0.1, upstream_crop_axes=upstream)
    # upstream pools the crop mirrored about the diagonal: the bottom-left quadrant
    expected = 3 if upstream else 2
    assert (
        cls_target.argmax(1).tolist() == [expected] and tokens.argmax(2).flatten().tolist() == [expected] * 4
    )
    # upstream smooths the soft labels as t * (0.9 + 1e-4) + 1e-4: they sum to 1 + 1e-4
    torch.testing.assert_close(cls_target.sum(1), torch.tensor([1 + 1e-4]))
    assert cls_target.min() >= 1e-4
    whole = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    for axes in (False, True):  # the whole image: one token per quadrant, row-major, either way
        _, tokens = token_label_targets(maps, whole, 1000, (2, 2), 0.1, upstream_crop_axes=axes)
        assert tokens.argmax(2).flatten().tolist() == [1, 2, 3, 4]


def render(label: np.ndarray, cell: int = 10) -> np.ndarray:
    """An image (uint8, cells * cell square) whose colour in each cell encodes the map's top-1 class."""
    top = label[..., 5].astype(np.int64)  # the first index channel
    colours = np.stack([top * 40 % 256, top * 90 % 256, top * 160 % 256], -1).astype(np.uint8)
    return colours.repeat(cell, 0).repeat(cell, 1)


def read_back(img: np.ndarray, cell: int = 10) -> np.ndarray:
    """Top-1 class of each cell centre of a rendered image (-1 where the colour is no class's)."""
    centres = img[cell // 2 :: cell, cell // 2 :: cell].astype(np.int64)
    table = {(c * 40 % 256, c * 90 % 256, c * 160 % 256): c for c in range(5)}
    return np.array([[table.get(tuple(p), -1) for p in row] for row in centres])


GEOMETRY = [
    TokenLabelFlip(prob=1.0, direction='horizontal'),
    TokenLabelRotate(angle=30.0, prob=1.0, random_negative_prob=0.0, interpolation='nearest'),
    TokenLabelShear(magnitude=0.3, prob=1.0, direction='horizontal', interpolation='nearest'),
    TokenLabelShear(magnitude=0.3, prob=1.0, direction='vertical', interpolation='nearest'),
    TokenLabelTranslate(magnitude=0.3, prob=1.0, direction='horizontal', interpolation='nearest'),
    TokenLabelTranslate(magnitude=0.2, prob=1.0, direction='vertical', interpolation='nearest'),
]


@pytest.mark.parametrize('transform', GEOMETRY, ids=lambda t: type(t).__name__ + getattr(t, 'direction', ''))
def test_geometric_augmentations_move_the_map_with_the_image(transform) -> None:
    label = token_label_array(quadrant_map((1, 2, 3, 4))[0])
    results = transform({'img': render(label), 'token_label': label.copy()})
    warped = results['token_label']
    assert not np.array_equal(warped, label)  # it moved
    inside = warped[..., 0] > 0  # cells the map still covers (zeros outside)
    seen = read_back(results['img'])
    agree = (seen == warped[..., 5].astype(np.int64)) | ~inside
    assert agree.mean() > 0.95, agree.astype(int)


RANDOM = dict(prob=0.5, random_negative_prob=0.5, magnitude_std='inf', interpolation='nearest')


@pytest.mark.parametrize(
    'transform',
    [
        TokenLabelRotate(magnitude_range=(0, 40), **RANDOM),
        TokenLabelShear(magnitude_range=(0, 0.4), **RANDOM),
        TokenLabelTranslate(magnitude_range=(0, 0.3), direction='vertical', **RANDOM),
    ],
    ids=lambda t: type(t).__name__,
)
def test_random_augmentations_draw_once_for_image_and_map(transform) -> None:
    label = token_label_array(quadrant_map((1, 2, 3, 4))[0])
    moved = 0
    for seed in range(8):
        np.random.seed(seed)
        results = transform({'img': render(label), 'token_label': label.copy()})
        after_with_map = np.random.rand()
        np.random.seed(seed)
        alone = transform({'img': render(label)})
        assert np.random.rand() == after_with_map  # the map draws no numbers of its own
        assert np.array_equal(alone['img'], results['img'])
        warped = results['token_label']
        moved += not np.array_equal(warped, label)
        inside = warped[..., 0] > 0
        agree = (read_back(results['img']) == warped[..., 5].astype(np.int64)) | ~inside
        assert agree.mean() > 0.95, (seed, agree.astype(int))
    assert 0 < moved < 8  # some draws warp, some are disabled


def test_rotation_about_another_centre_is_refused() -> None:
    with pytest.raises(ValueError, match='center=None'):
        TokenLabelRotate(angle=10.0, center=(3.0, 4.0))


def test_random_resized_crop_records_its_box() -> None:
    h, w = 120, 200
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
    img = np.stack([rows, cols, np.zeros_like(rows)], -1).astype(np.uint8)
    crop = RandomResizedCropWithCoords(scale=64, interpolation='nearest')
    for _ in range(10):
        results = crop({'img': img})
        top, left, bottom, right = results['token_label_crop']
        out = results['img'].astype(float)
        assert abs(out[0, 0, 0] - top * h) <= 2 and abs(out[0, 0, 1] - left * w) <= 2
        assert abs(out[-1, -1, 0] - (bottom * h - 1)) <= 2 and abs(out[-1, -1, 1] - (right * w - 1)) <= 2


def test_load_token_label_round_trips_upstreams_layout(tmp_path) -> None:
    label = quadrant_map()[0].half()
    torch.save(label, tmp_path / 'x.pt')
    loaded = LoadTokenLabel()({'token_label_path': str(tmp_path / 'x.pt')})['token_label']
    assert loaded.shape == (18, 18, 10) and torch.equal(token_label_tensor(loaded), label.float())
    torch.save({'not': 'a map'}, tmp_path / 'bad.pt')
    with pytest.raises(ValueError, match='not a \\(2, K, H, W\\) tensor'):
        LoadTokenLabel()({'token_label_path': str(tmp_path / 'bad.pt')})
    with pytest.raises(FileNotFoundError, match='label_top5_train_nfnet'):
        LoadTokenLabel()({'token_label_path': str(tmp_path / 'missing.pt')})


@pytest.fixture(scope='module')
def imagenet(tmp_path_factory):
    root = tmp_path_factory.mktemp('imagenet')
    make_imagenet(root, num_train=8, num_val=4, image_size=(96, 128))
    return root


def test_the_training_pipeline_packs_maps_and_crops(imagenet) -> None:
    init_default_scope('mmpretrain')
    cfg = load_config(osp.join(REPO, CONFIG))
    from mmpretrain.registry import DATASETS

    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=str(imagenet)))
    assert len(dataset) == 8
    sample = dataset[3]['data_samples']
    assert sample.token_label.shape == (18, 18, 10) and sample.token_label_crop.shape == (4,)
    assert dataset[3]['inputs'].shape == (3, 224, 224)
    info = dataset.get_data_info(3)
    assert osp.isfile(info['token_label_path']) and osp.basename(osp.dirname(info['token_label_path'])) == (
        osp.basename(osp.dirname(info['img_path']))
    )


def test_missing_label_maps_are_a_clear_error(imagenet, tmp_path) -> None:
    init_default_scope('mmpretrain')
    with pytest.raises(FileNotFoundError, match=r'(?s)no label maps at .*nowhere.*generate_label\.py'):
        TokenLabelImageNet(data_root=str(imagenet), split='train', token_label_root='nowhere')
    first = osp.join(imagenet, 'label_top5_train_nfnet', 'n00000000', 'n00000000_1.pt')
    moved = str(tmp_path / 'moved.pt')
    import shutil

    shutil.move(first, moved)
    try:
        with pytest.raises(FileNotFoundError, match='n00000000_1.pt .the label map of'):
            TokenLabelImageNet(data_root=str(imagenet), split='train')
    finally:
        shutil.move(moved, first)


def build(**changes):
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS

    cfg = load_config(osp.join(REPO, CONFIG))
    cfg.model.backbone.drop_path_rate = 0.0
    cfg.model.update(changes)
    return MODELS.build(cfg.model)


def samples_for(batch: int, seed: int = 0):
    from mmpretrain.structures import DataSample

    generator = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(batch):
        label_map = torch.stack(
            [
                torch.randn(5, 18, 18, generator=generator) * 3,
                torch.randperm(1000)[:5, None, None].float().expand(5, 18, 18),
            ]
        )
        sample = DataSample().set_gt_label(0)
        sample.set_field(token_label_array(label_map), 'token_label')
        sample.set_field(np.array([0.1, 0.2, 0.8, 0.9], np.float32), 'token_label_crop')
        samples.append(sample)
    return samples


def test_mix_token_mixes_the_stem_and_unmixes_the_tokens(monkeypatch) -> None:
    model = build().train()
    randomise(model)
    seen = {}
    forward = model.backbone.forward_class_tokens
    head_loss = model.head.loss

    def record_forward(stem):
        seen['stem'], seen['out'] = stem, forward(stem)
        return seen['out']

    def record_loss(feats, samples, mix_lam=1.0):
        seen['feats'], seen['lam'] = feats, mix_lam
        return head_loss(feats, samples, mix_lam=mix_lam)

    monkeypatch.setattr(model.backbone, 'forward_class_tokens', record_forward)
    monkeypatch.setattr(model.head, 'loss', record_loss)
    monkeypatch.setattr(
        token_label, 'mix_token_box', lambda rows, cols, beta: (0, 1, 2, 3)
    )  # rows 0-1, col 1-2
    x = torch.randn(2, 3, 128, 128)  # stem 32 x 32, tokens 4 x 4
    losses = model.loss(x, samples_for(2))
    stem = model.backbone.patch_embed(x)
    box = torch.zeros(32, 32, dtype=torch.bool)
    box[0:16, 8:24] = True
    torch.testing.assert_close(seen['stem'][:, ~box], stem[:, ~box])
    torch.testing.assert_close(seen['stem'][:, box], stem.flip(0)[:, box])
    _, tokens = seen['out']
    _, unmixed = seen['feats']
    torch.testing.assert_close(unmixed[:, 0:2, 1:3], tokens.flip(0)[:, 0:2, 1:3])
    torch.testing.assert_close(unmixed[:, 2:], tokens[:, 2:])
    assert seen['lam'] == 1 - 4 / 16
    assert set(losses) == {'loss_cls', 'loss_token'} and all(torch.isfinite(v) for v in losses.values())


def test_mixing_identical_images_changes_nothing() -> None:
    model = build().train()
    randomise(model)
    x = torch.randn(1, 3, 64, 64).expand(2, -1, -1, -1)
    samples = samples_for(1) * 2
    torch.manual_seed(0)
    np.random.seed(0)
    mixed = model.loss(x, samples)
    model.mix_token = False
    plain = model.loss(x, samples)
    for key in plain:
        torch.testing.assert_close(mixed[key], plain[key])


def test_compile_switch_compiles_token_labeling_training_and_keeps_one_graph_for_the_backbone(
    monkeypatch,
) -> None:
    """``--compile``'s modules: token labeling calls the stem and ``forward_class_tokens`` compiled.

    It calls them on their own, mixing the stem between them; compiling only the backbone's
    ``forward`` would leave its training eager. The backbone called whole stays one graph.
    """
    from vitdense.utils.launch import COMPILED_MODULES, compile_modules

    backend, graphs = recording_backend()
    compile_ = torch.compile
    monkeypatch.setattr(torch, 'compile', lambda fn, *args, **kwargs: compile_(fn, backend=backend))
    monkeypatch.setattr(token_label, 'mix_token_box', lambda rows, cols, beta: (0, 1, 1, 2))
    torch._dynamo.reset()
    eager = build().train()
    randomise(eager)
    model = build().train()
    model.load_state_dict(eager.state_dict())
    keys = list(model.state_dict())
    assert compile_modules(model, COMPILED_MODULES) == ['backbone']
    assert list(model.state_dict()) == keys
    x, samples = torch.randn(2, 3, 64, 64), samples_for(2)
    expected, losses = eager.loss(x, samples), model.loss(x, samples)
    assert len(graphs) == 2  # the stem; the stages and the class token
    for key in expected:
        torch.testing.assert_close(losses[key], expected[key])
    sum(losses.values()).backward()
    sum(expected.values()).backward()
    for (name, p), q in zip(model.named_parameters(), eager.parameters(), strict=True):
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, msg=name)
    traced = len(graphs)
    with torch.no_grad():
        torch.testing.assert_close(model.backbone(x)[0], eager.backbone(x)[0])
    assert len(graphs) == traced + 1
    # a copy (mmengine's EMA makes one) computes with its own weights, and the model pickles
    copy = deepcopy(model)
    with torch.no_grad():
        for p in copy.parameters():
            p.zero_()
        assert not copy.backbone.forward_class_tokens(copy.backbone.patch_embed(x))[0].any()
    assert pickle.loads(pickle.dumps(model.backbone))._compiled_class_tokens is None


def test_mix_token_needs_a_divisible_input() -> None:
    with pytest.raises(ValueError, match='multiples of 32 pixels; got 80 x 96'):
        build().train().loss(torch.randn(2, 3, 80, 96), samples_for(2))


def test_prediction_adds_the_largest_token_logits() -> None:
    model = build().eval()
    randomise(model)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        cls_token, tokens = model.extract_feat(x)
        expected = model.head.fc(cls_token) + 0.5 * model.head.aux_fc(tokens).flatten(1, 2).max(1).values
        torch.testing.assert_close(model(x, mode='tensor'), expected)
        assert model.predict(x)[0].pred_score.shape == (1000,)


def test_upstreams_token_label_classifier_file_loads_strictly(tmp_path) -> None:
    """main.py saves {'model': ...}: stages in the PVT layout, post_network, head and aux_head."""
    source = build().eval()
    randomise(source)
    flat = pvt_upstream_layout(source.backbone)
    flat.update({f'head.{k}': v for k, v in source.head.fc.state_dict().items()})
    flat.update({f'aux_head.{k}': v for k, v in source.head.aux_fc.state_dict().items()})
    torch.save({'model': flat, 'epoch': 309}, tmp_path / 'upstream.pth')
    target = build().eval()
    load_checkpoint(target, str(tmp_path / 'upstream.pth'), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(target(x, mode='tensor'), source(x, mode='tensor'))
