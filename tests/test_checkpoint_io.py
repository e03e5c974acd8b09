"""Loading a checkpoint never runs code nobody chose to trust; real checkpoints keep loading."""

from __future__ import annotations

import argparse
import builtins
import contextlib
import http.server
import os
import subprocess
import threading
from collections import Counter, OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader, save_checkpoint

from vitdense.models.backbones import LITv2
from vitdense.utils import (
    CheckpointReadError,
    UntrustedCheckpointError,
    checkpoint_io,
    load_file,
    trusted_checkpoints,
)
from vitdense.utils.launch import add_common_args, prepare_config


# ------------------------------------------------------------------ payloads
class Payload:
    """Pickles as a call of ``func(*args)``: what a malicious checkpoint holds."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def payloads(marker: str) -> dict[str, tuple[Payload, str]]:
    """Each payload creates ``marker`` if it runs; with the global it is pickled as."""
    code = f'open({marker!r}, "w").close()'
    return {
        'exec': (Payload(builtins.exec, code), 'builtins.exec'),
        'eval': (Payload(builtins.eval, code), 'builtins.eval'),
        'subprocess': (Payload(subprocess.call, ['touch', marker]), 'subprocess.call'),
        'os.system': (Payload(os.system, f'touch {marker}'), 'posix.system'),
    }


PAYLOADS = ['exec', 'eval', 'subprocess', 'os.system']


def write_payload(tmp_path, kind: str, wrap: str = 'model') -> tuple[str, str, str]:
    """A checkpoint whose weights fit LITv2-s, with a payload beside them."""
    marker = str(tmp_path / 'ran')
    payload, name = payloads(marker)[kind]
    path = str(tmp_path / f'{kind}.pth')
    torch.save({wrap: LITv2('s').state_dict(), 'meta': {'note': payload}}, path)
    return path, marker, name


@contextlib.contextmanager
def served(files: dict[str, bytes], truncate: set[str] = frozenset()):
    """A loopback HTTP server; names in ``truncate`` announce their length but send half and close."""
    hits = Counter()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            name = self.path.lstrip('/')
            hits[name] += 1
            data = files.get(name)
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2] if name in truncate else data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}', hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hub_dir(tmp_path):
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    yield tmp_path / 'hub' / 'checkpoints'
    torch.hub.set_dir(old)


@pytest.mark.parametrize('kind', PAYLOADS)
@pytest.mark.parametrize('path_kind', ['CheckpointLoader', 'mmengine.load_checkpoint', 'init_cfg', 'http'])
def test_payload_is_refused_before_it_runs(tmp_path, hub_dir, kind, path_kind) -> None:
    path, marker, name = write_payload(tmp_path, kind)
    model = LITv2('s')
    with pytest.raises(UntrustedCheckpointError) as err:
        if path_kind == 'CheckpointLoader':
            CheckpointLoader.load_checkpoint(path)
        elif path_kind == 'mmengine.load_checkpoint':  # tools/test.py, load_from and resume go this way
            load_checkpoint(model, path)
        elif path_kind == 'init_cfg':
            model = LITv2('s', init_cfg=dict(type='Pretrained', checkpoint=path))
            model.init_weights()
        else:
            with open(path, 'rb') as f, served({'x.pth': f.read()}) as (url, _):
                path = f'{url}/x.pth'
                CheckpointLoader.load_checkpoint(path)
    assert not os.path.exists(marker), 'the payload ran'
    message = str(err.value)
    assert (
        name in message and path in message and '--trust-checkpoint' in message and 'trusted=True' in message
    )


def test_every_object_outside_the_allow_list_is_named(tmp_path) -> None:
    marker = str(tmp_path / 'ran')
    path = str(tmp_path / 'many.pth')
    torch.save({name: payload for name, (payload, _) in payloads(marker).items()}, path)
    with pytest.raises(UntrustedCheckpointError) as err:
        load_file(path)
    for _, name in payloads(marker).values():
        assert name in str(err.value)
    assert not os.path.exists(marker)


def test_attribute_lookups_are_restricted(tmp_path) -> None:
    """``getattr`` is allowed for HistoryBuffer's statistics only, not as a way to reach code."""
    path = str(tmp_path / 'getattr.pth')
    torch.save({'x': Payload(getattr, np.ndarray, 'tofile')}, path)
    with pytest.raises(UntrustedCheckpointError, match=r"getattr\(ndarray, 'tofile'\) is not allowed"):
        load_file(path)


# ------------------------------------------------------------------ trust, explicitly
def test_trusted_init_cfg_unpickles_fully(tmp_path) -> None:
    path, marker, _ = write_payload(tmp_path, 'exec')
    model = LITv2('s', init_cfg=dict(type='Pretrained', checkpoint=path, trusted=True))
    model.init_weights()
    assert os.path.exists(marker), 'trusted=True is the opt-in to full unpickling'


def test_trust_by_environment_and_context(tmp_path, monkeypatch) -> None:
    path, marker, _ = write_payload(tmp_path, 'eval')
    with trusted_checkpoints(path):
        CheckpointLoader.load_checkpoint(path)
    assert os.path.exists(marker)
    os.remove(marker)
    with pytest.raises(UntrustedCheckpointError):  # the context ended
        CheckpointLoader.load_checkpoint(path)
    monkeypatch.setenv(checkpoint_io.TRUST_ENV, f'/elsewhere.pth,{path}')
    CheckpointLoader.load_checkpoint(path)
    assert os.path.exists(marker)


def test_tools_flag_trusts_the_named_files(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(checkpoint_io.TRUST_ENV, raising=False)
    parser = argparse.ArgumentParser()
    add_common_args(parser)
    config = 'configs/mask_rcnn/litv2_s_fpn_1x_coco.py'
    args = parser.parse_args([config, '--trust-checkpoint', 'a.pth', '--trust-checkpoint', 'https://x/b.pth'])
    prepare_config(args)
    assert checkpoint_io.is_trusted('a.pth') and checkpoint_io.is_trusted('https://x/b.pth')
    assert not checkpoint_io.is_trusted('c.pth')


# ------------------------------------------------------------------ benign files of each saver
def mmengine_training_state() -> dict:
    """What mmengine's Runner.save_checkpoint writes (meta, message hub, optimizer, schedulers)."""
    from mmengine.optim.scheduler import LinearLR, MultiStepLR, OneCycleLR

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    hub = MessageHub.get_instance('vitdense-test')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/lr', 1e-3)
    hub.update_info('eta', np.float64(12.5))  # IterTimerHook writes a numpy scalar
    hub.update_info('best_score', np.float32(41.3))  # mmseg's IoUMetric returns numpy
    hub.update_info('dataset_meta', dict(classes=('a', 'b'), palette=[[1, 2, 3], [4, 5, 6]]))
    schedulers = [
        LinearLR(optimizer, start_factor=0.001, by_epoch=False, begin=0, end=10),
        MultiStepLR(optimizer, milestones=[8, 11], by_epoch=True, begin=0, end=12),
        OneCycleLR(optimizer, eta_max=0.01, total_steps=100),
    ]
    scaler = torch.amp.GradScaler('cpu')
    return {
        'meta': dict(epoch=1, iter=10, cfg='model = dict()', seed=0, experiment_name='x', time='now'),
        'state_dict': model.state_dict(),
        'message_hub': hub.state_dict(),
        'optimizer': dict(optimizer.state_dict(), loss_scaler=scaler.state_dict()),
        'param_schedulers': [s.state_dict() for s in schedulers],
        'ema_state_dict': model.state_dict(),
    }


def timm_saver_files(tmp_path) -> str:
    """A file written by timm's own CheckpointSaver (SG-Former's and SpectFormer's savers copy it)."""
    from timm.utils import CheckpointSaver, ModelEmaV2

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    args = argparse.Namespace(model='sgformer_s', lr=1e-3, device='cuda:0', distributed=False)
    saver = CheckpointSaver(
        model,
        optimizer,
        args=args,
        model_ema=ModelEmaV2(model),
        checkpoint_dir=str(tmp_path),
        recovery_dir=str(tmp_path),
    )
    saver.save_checkpoint(epoch=0, metric=81.2)
    return str(tmp_path / 'last.pth.tar')


def swin_codebase_config():
    yacs = pytest.importorskip('yacs.config')
    config = yacs.CfgNode()
    config.MODEL = yacs.CfgNode()
    config.MODEL.TYPE = 'litv2'
    config.TRAIN = yacs.CfgNode()
    config.TRAIN.BASE_LR = 5e-4
    config.freeze()
    return config


def benign_file(tmp_path, kind: str) -> str:
    weights = OrderedDict(w=torch.ones(2))
    path = str(tmp_path / f'{kind}.pth')
    if kind == 'mmengine':
        save_checkpoint(mmengine_training_state(), path)
    elif kind == 'timm':
        path = timm_saver_files(tmp_path)
    elif kind == 'deit':  # facebookresearch/deit main.py, also LIT-Ti's code
        from timm.scheduler import CosineLRScheduler

        optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.ones(1))])
        torch.save(
            {
                'model': weights,
                'optimizer': optimizer.state_dict(),
                'lr_scheduler': CosineLRScheduler(optimizer, t_initial=300).state_dict(),
                'model_ema': weights,
                'scaler': torch.amp.GradScaler('cpu').state_dict(),
                'epoch': 299,
                'args': argparse.Namespace(model='deit_small_patch16_224', lr=5e-4, device='cuda'),
                'global_step': 100,
            },
            path,
        )
    elif kind == 'swin':  # Swin-Transformer / LITv2 / LIT utils.save_checkpoint
        amp = OrderedDict(loss_scaler0={'loss_scale': 65536.0, 'unskipped': 0})
        torch.save(
            dict(model=weights, max_accuracy=82.0, epoch=299, config=swin_codebase_config(), amp=amp), path
        )
    elif kind in ('mmdet2', 'mmseg0'):  # mmcv 1.x save_checkpoint with mmdet 2.x / mmseg 0.x meta
        meta = dict(
            mmcv_version='1.3.8',
            time='Thu Jun 16 2022',
            env_info='sys.platform: linux',
            config="model = dict(type='MaskRCNN')",
            seed=0,
            exp_name='x.py',
            epoch=12,
            iter=87960,
            CLASSES=('person', 'bicycle'),
            hook_msgs=dict(last_ckpt='epoch_12.pth', best_score=np.float64(0.44)),
        )
        if kind == 'mmdet2':
            meta['mmdet_version'] = '2.11.0'
        else:
            meta.update(mmseg_version='0.13.0', PALETTE=np.random.randint(0, 255, size=(2, 3)))
        torch.save(
            {'meta': meta, 'state_dict': weights, 'optimizer': {'state': {}, 'param_groups': []}}, path
        )
    elif kind == 'mmpretrain':  # publish_model.py: meta + state_dict, legacy serialisation
        meta = dict(mmpretrain_version='1.2.0', dataset_meta=dict(classes=('a', 'b')), epoch=300)
        torch.save({'meta': meta, 'state_dict': weights}, path, _use_new_zipfile_serialization=False)
    return path


@pytest.mark.parametrize('kind', ['mmengine', 'timm', 'deit', 'swin', 'mmdet2', 'mmseg0', 'mmpretrain'])
def test_real_savers_files_load(tmp_path, kind) -> None:
    checkpoint = CheckpointLoader.load_checkpoint(benign_file(tmp_path, kind))
    assert isinstance(checkpoint, dict)
    if kind == 'mmengine':
        hub = MessageHub.get_instance('vitdense-test-resumed')
        hub.load_state_dict(checkpoint['message_hub'])
        assert hub.get_scalar('train/loss').mean() == 1.5 and hub.get_info('eta') == 12.5
    elif kind == 'timm':
        assert checkpoint['args'].model == 'sgformer_s' and checkpoint['metric'] == 81.2
        assert 'state_dict_ema' in checkpoint
    elif kind == 'swin':
        assert checkpoint['config']['MODEL']['TYPE'] == 'litv2'
    elif kind == 'mmseg0':
        assert checkpoint['meta']['PALETTE'].shape == (2, 3)


# ------------------------------------------------------------------ downloads
def small_checkpoint() -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save({'state_dict': {'w': torch.arange(1000.0)}}, buffer)
    return buffer.getvalue()


def test_interrupted_download_leaves_nothing_to_load(hub_dir) -> None:
    data = small_checkpoint()
    with served({'ckpt.pth': data}, truncate={'ckpt.pth'}) as (url, _):
        with pytest.raises(CheckpointReadError, match='incomplete'):
            CheckpointLoader.load_checkpoint(f'{url}/ckpt.pth')
    assert not hub_dir.exists() or not list(hub_dir.iterdir()), 'a partial file was left'
    with served({'ckpt.pth': data}) as (url, hits):
        checkpoint = CheckpointLoader.load_checkpoint(f'{url}/ckpt.pth')
        assert torch.equal(checkpoint['state_dict']['w'], torch.arange(1000.0)) and hits['ckpt.pth'] == 1
        CheckpointLoader.load_checkpoint(f'{url}/ckpt.pth')
        assert hits['ckpt.pth'] == 1, 'the cached file is used'


def test_hash_is_verified_and_a_bad_cached_file_fetched_again(hub_dir) -> None:
    import hashlib

    data = small_checkpoint()
    name = f'ckpt-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    with served({name: data, 'wrong-0123abcd.pth': data}) as (url, hits):
        with pytest.raises(CheckpointReadError, match='corrupted'):
            CheckpointLoader.load_checkpoint(f'{url}/wrong-0123abcd.pth')
        assert not (hub_dir / 'wrong-0123abcd.pth').exists()
        CheckpointLoader.load_checkpoint(f'{url}/{name}')
        (hub_dir / name).write_bytes(data[:-10] + b'0' * 10)  # damaged in the cache
        CheckpointLoader.load_checkpoint(f'{url}/{name}')
        assert hits[name] == 2 and (hub_dir / name).read_bytes() == data


def test_unreadable_cached_file_is_fetched_again(hub_dir) -> None:
    data = small_checkpoint()
    hub_dir.mkdir(parents=True)
    (hub_dir / 'ckpt.pth').write_bytes(data[:100])  # truncated by an older tool
    with served({'ckpt.pth': data}) as (url, hits):
        checkpoint = CheckpointLoader.load_checkpoint(f'{url}/ckpt.pth')
    assert hits['ckpt.pth'] == 1 and torch.equal(checkpoint['state_dict']['w'], torch.arange(1000.0))
